/**
 * A zip archive of a root filesystem, read through node-stream-zip (central directory
 * first, then each entry on demand). Unix modes and symlinks come from the entries'
 * external attributes, as Info-ZIP's `zip -y` stores them. Deflated entries are
 * checked against a decompression-bomb ratio before any byte is inflated.
 */
import { close as closeFile, open as openFile } from 'node:fs';
import StreamZip from 'node-stream-zip';
import { corrupt, limitExceeded, unsupported } from '../../errors.js';
import type { ReadCounter } from '../../sources/byte-source.js';
import type { FileType, NodeId } from '../types.js';
import { ArchiveFileSystem } from './archive-fs.js';
import { DISK_MEMBER_MIN, looksLikeDisk } from './disk-magic.js';

const MAX_RATIO = 4096;
const MAX_SYMLINK_BYTES = 4096;

const S_IFMT = 0o170000;
const MODE_TYPES: Record<number, FileType> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
  0o140000: 'socket',
};

type ZipEntry = StreamZip.ZipEntry;

export class ZipFileSystem extends ArchiveFileSystem<ZipEntry> {
  readonly kind = 'zip';

  private constructor(
    private readonly zip: StreamZip.StreamZipAsync,
    private readonly counter?: ReadCounter,
  ) {
    super('drop');
  }

  static async open(file: string, counter?: ReadCounter): Promise<ZipFileSystem> {
    // The file is opened here, not by the library: when the central directory is damaged
    // the library gives up without closing what it opened, and fuzzing ran out of descriptors.
    const fd = await new Promise<number>((resolve, reject) => openFile(file, 'r', (err, f) => (err ? reject(err) : resolve(f))));
    // Entry names are normalised by ArchiveTree; the library's own check would reject the whole archive.
    const zip = new StreamZip.async({ fd, skipEntryNameValidation: true });
    // Central directory order, duplicates included (the library keeps one entry per exact name):
    // unzip extracts in this order, so the last entry of a path is what lands on disk.
    const ordered: ZipEntry[] = [];
    zip.on('entry', (e: ZipEntry) => ordered.push(e));
    try {
      await zip.entries();
    } catch (err) {
      closeFile(fd, () => undefined);
      throw corrupt('zip central directory', (err as Error).message);
    }
    const fs = new ZipFileSystem(zip, counter);
    try {
      await fs.addEntries(ordered);
    } catch (err) {
      // A damaged symlink entry ends the open: the archive's file must not stay open.
      await zip.close().catch(() => undefined);
      throw err;
    }
    return fs;
  }

  private async addEntries(ordered: ZipEntry[]): Promise<void> {
    const fs = this;
    for (const e of ordered) {
      const unixMode = e.attr >>> 16;
      const type: FileType = e.isDirectory ? 'directory' : (MODE_TYPES[unixMode & S_IFMT] ?? 'file');
      let linkname: string | undefined;
      if (type === 'symlink') {
        if (e.size > MAX_SYMLINK_BYTES) throw corrupt('zip symlink', `${e.name}: ${e.size}-byte target`, e.offset);
        linkname = (await fs.entryBytes(e)).toString('utf8');
      }
      fs.addEntry({
        name: e.name,
        type,
        mode: unixMode & 0o7777 || (type === 'directory' ? 0o755 : 0o644),
        uid: 0,
        gid: 0,
        size: e.size,
        mtime: e.time / 1000,
        linkname,
        content: e,
      });
    }
  }

  /** Members that are disk images (name and size), for a zip that carries an image rather than a root. */
  async diskImageCandidates(): Promise<Array<{ name: string; size: number }>> {
    const top = this.tree.readdir(this.root);
    if (top.some((e) => (e.name === 'etc' || e.name === 'usr') && e.type === 'directory')) return [];
    const out: Array<{ name: string; size: number }> = [];
    for (const e of top) {
      const n = this.tree.node(e.node);
      if (n.type !== 'file' || !n.content || n.size < DISK_MEMBER_MIN) continue;
      if (looksLikeDisk(await this.read(e.node, 0, 4096))) out.push({ name: n.content.name, size: n.size });
    }
    return out;
  }

  /** The whole member as a stream (for spooling an image member to a temporary file). */
  async memberStream(name: string): Promise<NodeJS.ReadableStream> {
    const entry = await this.zip.entry(name);
    if (!entry) throw corrupt('zip entry', `${name} is not in the archive`);
    checkRatio(entry);
    return this.zip.stream(entry);
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const n = this.tree.node(node);
    if (n.type !== 'file' || !n.content) throw corrupt('zip entry', `node ${String(node)} is not a regular file`);
    const end = Math.min(n.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const e = n.content;
    if (e.encrypted) throw unsupported('zip entry', `${e.name} is encrypted`, e.offset);
    checkRatio(e);
    // Zip entries stream from their start: skip to the offset, keep only the range.
    const out = Buffer.alloc(end - offset);
    let pos = 0;
    let stream: NodeJS.ReadableStream | undefined;
    try {
      stream = await this.zip.stream(e);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const from = Math.max(offset, pos);
        const to = Math.min(end, pos + chunk.length);
        if (from < to) chunk.copy(out, from - offset, from - pos, to - pos);
        pos += chunk.length;
        if (pos >= end) break;
      }
    } catch (err) {
      throw corrupt('zip entry', `${e.name}: ${(err as Error).message}`, e.offset);
    } finally {
      (stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined)?.destroy?.();
    }
    if (this.counter) this.counter.bytesRead += Math.min(e.compressedSize, pos);
    if (pos < end) throw corrupt('zip entry', `${e.name}: data ends after ${pos} of ${n.size} bytes`, e.offset);
    return out;
  }

  private async entryBytes(e: ZipEntry): Promise<Buffer> {
    checkRatio(e);
    try {
      return await this.zip.entryData(e);
    } catch (err) {
      throw corrupt('zip entry', `${e.name}: ${(err as Error).message}`, e.offset);
    }
  }

  override async close(): Promise<void> {
    await this.zip.close();
  }
}

function checkRatio(e: ZipEntry): void {
  if (e.size > Math.max(1 << 20, e.compressedSize * MAX_RATIO)) {
    throw limitExceeded('zip entry', `${e.name} claims to expand ${e.compressedSize} bytes to ${e.size}`, e.offset);
  }
}
