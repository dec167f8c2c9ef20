/**
 * A zip archive of a root filesystem, read through node-stream-zip (central directory
 * first, then each entry on demand). Unix modes and symlinks come from the entries'
 * external attributes, as Info-ZIP's `zip -y` stores them. Deflated entries are
 * checked against a decompression-bomb ratio before any byte is inflated.
 *
 * A deflated entry can only be inflated from its start. Readers mostly go forward in
 * chunks, so each entry keeps its inflater where the last read stopped and the next
 * read resumes there: reading a file in n chunks inflates it once, not n times. Only a
 * read behind that point starts over. A few inflaters are kept, least recently used
 * dropped first. They read the archive through streams of their own (the local header
 * gives where an entry's data starts, APPNOTE 4.3.7), so one can be dropped mid-read.
 *
 * A central directory the library cannot read does not make the archive unreadable:
 * the entries are found by walking the local headers (zip-local-headers.ts), what they
 * hold is read, and the archive reports the damage as unread (the scan is incomplete).
 */
import { close as closeFile, open as openFd } from 'node:fs';
import StreamZip from 'node-stream-zip';
import { createReadStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { createInflateRaw } from 'node:zlib';
import { crc32Update } from '../../crc32.js';
import { corrupt, limitExceeded, MountfsError, unsupported } from '../../errors.js';
import type { ReadCounter } from '../../sources/byte-source.js';
import type { FileType, NodeId } from '../types.js';
import { ArchiveFileSystem } from './archive-fs.js';
import { walkLocalHeaders, type LocalEntry } from './zip-local-headers.js';
import { DISK_MEMBER_MIN, looksLikeDisk } from './disk-magic.js';

/** Deflate codes at most 258 bytes in about 2 bits: an entry declaring more than 1032:1 lies about its size. */
const MAX_RATIO = 1032;
const MAX_SYMLINK_BYTES = 4096;
/** Entries whose inflater is kept between reads. */
const OPEN_CURSORS = 8;

/** An entry's inflater, stopped at `pos` bytes of output, with `carry` the part of the last chunk not yet read. */
interface Cursor {
  close(): void;
  chunks: AsyncIterator<Buffer>;
  pos: number;
  carry: Buffer;
}

const LOCAL_HEADER = 30;
const LOCAL_SIGNATURE = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

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

/** An entry from the central directory (node-stream-zip) or from its local header. */
type ZipEntry = LocalEntry;

export class ZipFileSystem extends ArchiveFileSystem<ZipEntry> {
  readonly kind = 'zip';
  /** Bytes inflated so far, all entries together (tests hold it down). */
  inflatedBytes = 0;
  /** Entry name → its inflater; Map order is the LRU order. */
  private readonly cursors = new Map<string, Cursor>();
  /** Entry name → the last read queued on it. */
  private readonly turns = new Map<string, Promise<unknown>>();
  /** Entry name → its last entry, as unzip leaves it. */
  private readonly byName = new Map<string, ZipEntry>();

  private constructor(
    /** Absent when the central directory could not be read. */
    private readonly zip: StreamZip.StreamZipAsync | undefined,
    private readonly file: string,
    private readonly counter?: ReadCounter,
  ) {
    super('drop');
  }

  static async open(file: string, counter?: ReadCounter): Promise<ZipFileSystem> {
    // The file is opened here, not by the library: when the central directory is damaged
    // the library gives up without closing what it opened, and fuzzing ran out of descriptors.
    const fd = await new Promise<number>((resolve, reject) => openFd(file, 'r', (err, f) => (err ? reject(err) : resolve(f))));
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
      return ZipFileSystem.fromLocalHeaders(file, corrupt('zip central directory', (err as Error).message), counter);
    }
    const fs = new ZipFileSystem(zip, file, counter);
    try {
      await fs.addEntries(ordered);
    } catch (err) {
      // A damaged symlink entry ends the open: the archive's file must not stay open.
      await zip.close().catch(() => undefined);
      throw err;
    }
    return fs;
  }

  /**
   * The archive read from its local headers after `damage` to its central directory:
   * the entries found are kept and the damage is unread; with none, the damage is thrown.
   */
  private static async fromLocalHeaders(file: string, damage: MountfsError, counter?: ReadCounter): Promise<ZipFileSystem> {
    const fh = await openFile(file, 'r');
    let walk;
    try {
      walk = await walkLocalHeaders(fh, (await fh.stat()).size);
    } finally {
      await fh.close();
    }
    if (walk.entries.length === 0) throw damage;
    const fs = new ZipFileSystem(undefined, file, counter);
    await fs.addEntries(walk.entries);
    const kept = `${walk.entries.length} entries were read from their local headers instead, without their Unix modes (symlinks read as files)`;
    fs.unread.push(new MountfsError(damage.kind, damage.structure, `${damage.message.replace(/^zip central directory: /, '')}; ${kept}`, damage.offset));
    if (walk.stopped) fs.brokeOff(walk.stopped);
    return fs;
  }

  private async addEntries(ordered: ZipEntry[]): Promise<void> {
    const fs = this;
    for (const e of ordered) {
      fs.byName.set(e.name, e);
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

  /** The whole member, front to back (for spooling an image member to a temporary file). */
  async memberStream(name: string): Promise<AsyncIterable<Buffer>> {
    const entry = this.byName.get(name);
    if (!entry) throw corrupt('zip entry', `${name} is not in the archive`);
    if (entry.encrypted) throw unsupported('zip entry', `${name} is encrypted`, entry.offset);
    checkRatio(entry);
    const cursor = await this.inflater(entry);
    return { [Symbol.asyncIterator]: () => cursor.chunks };
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const n = this.tree.node(node);
    if (n.type !== 'file' || !n.content) throw corrupt('zip entry', `node ${String(node)} is not a regular file`);
    const end = Math.min(n.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const e = n.content;
    if (e.encrypted) throw unsupported('zip entry', `${e.name} is encrypted`, e.offset);
    checkRatio(e);
    // One inflater per entry: reads of the same entry take turns.
    const previous = this.turns.get(e.name) ?? Promise.resolve();
    const mine = previous.then(() => this.readEntry(e, offset, end - offset, n.size));
    const settled = mine.catch(() => undefined);
    this.turns.set(e.name, settled);
    void settled.then(() => {
      if (this.turns.get(e.name) === settled) this.turns.delete(e.name);
    });
    return mine;
  }

  private async readEntry(e: ZipEntry, offset: number, length: number, size: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let filled = 0;
    let cursor: Cursor | undefined;
    try {
      cursor = await this.cursorAt(e, offset);
      while (filled < out.length) {
        let chunk = cursor.carry;
        cursor.carry = EMPTY;
        if (chunk.length === 0) {
          const next = await cursor.chunks.next();
          if (next.done) break;
          chunk = next.value;
          this.inflatedBytes += chunk.length;
        }
        // Skip what lies before `offset`, copy what lies in the range, keep the rest.
        const skip = Math.max(0, Math.min(chunk.length, offset + filled - cursor.pos));
        cursor.pos += skip;
        const take = Math.min(chunk.length - skip, out.length - filled);
        chunk.copy(out, filled, skip, skip + take);
        filled += take;
        cursor.pos += take;
        cursor.carry = chunk.subarray(skip + take);
      }
    } catch (err) {
      this.dropCursor(e.name);
      throw corrupt('zip entry', `${e.name}: ${(err as Error).message}`, e.offset);
    }
    if (filled < out.length) {
      this.dropCursor(e.name);
      throw corrupt('zip entry', `${e.name}: data ends after ${offset + filled} of ${size} bytes`, e.offset);
    }
    return out;
  }

  /** The entry's inflater at or before `offset`: the kept one if it has not passed it, else a new one from the start. */
  private async cursorAt(e: ZipEntry, offset: number): Promise<Cursor> {
    const kept = this.cursors.get(e.name);
    if (kept && kept.pos <= offset) {
      this.cursors.delete(e.name);
      this.cursors.set(e.name, kept);
      return kept;
    }
    this.dropCursor(e.name);
    const cursor = await this.inflater(e);
    this.cursors.set(e.name, cursor);
    while (this.cursors.size > OPEN_CURSORS) this.dropCursor(this.cursors.keys().next().value!);
    return cursor;
  }

  private dropCursor(name: string): void {
    const c = this.cursors.get(name);
    if (!c) return;
    this.cursors.delete(name);
    c.close();
  }

  /** A new inflater at the start of the entry's data, checking its size and CRC at the end. */
  private async inflater(e: ZipEntry): Promise<Cursor> {
    if (e.method !== STORED && e.method !== DEFLATED) throw unsupported('zip entry', `${e.name}: compression method ${e.method}`, e.offset);
    const header = Buffer.alloc(LOCAL_HEADER);
    const fh = await openFile(this.file, 'r');
    try {
      const { bytesRead } = await fh.read(header, 0, LOCAL_HEADER, e.offset);
      if (bytesRead < LOCAL_HEADER || header.readUInt32LE(0) !== LOCAL_SIGNATURE) throw corrupt('zip local header', `${e.name}: no local header`, e.offset);
    } finally {
      await fh.close();
    }
    const start = e.offset + LOCAL_HEADER + header.readUInt16LE(26) + header.readUInt16LE(28);
    const raw = createReadStream(this.file, { start, end: start + e.compressedSize - 1, highWaterMark: 64 << 10 });
    const counter = this.counter;
    const body = e.method === DEFLATED ? raw.pipe(createInflateRaw()) : raw;
    // What leaves the archive file counts as read: the compressed bytes.
    if (body !== raw) {
      raw.on('data', (c: string | Buffer) => counter && (counter.bytesRead += c.length));
      raw.on('error', (err) => body.destroy(err));
    }
    const checked = async function* (): AsyncGenerator<Buffer> {
      let crc = 0xffffffff;
      let size = 0;
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          crc = crc32Update(crc, chunk);
          size += chunk.length;
          if (body === raw && counter) counter.bytesRead += chunk.length;
          if (size > e.size) throw corrupt('zip entry', `${e.name}: inflates past its ${e.size} bytes`, e.offset);
          yield chunk;
        }
      } finally {
        // A reader that stops early (a spool past its budget) must not leave the file open.
        raw.destroy();
      }
      if (size !== e.size) throw corrupt('zip entry', `${e.name}: data ends after ${size} of ${e.size} bytes`, e.offset);
      if (((crc ^ 0xffffffff) >>> 0) !== e.crc >>> 0) throw corrupt('zip entry', `${e.name}: CRC-32 does not match`, e.offset);
    };
    return {
      chunks: checked(),
      pos: 0,
      carry: EMPTY,
      close: () => {
        raw.destroy();
        if (body !== raw) body.destroy();
      },
    };
  }

  private async entryBytes(e: ZipEntry): Promise<Buffer> {
    checkRatio(e);
    if (e.encrypted) throw unsupported('zip entry', `${e.name} is encrypted`, e.offset);
    const bytes = await this.readEntry(e, 0, e.size, e.size);
    this.dropCursor(e.name);
    return bytes;
  }

  override async close(): Promise<void> {
    for (const name of [...this.cursors.keys()]) this.dropCursor(name);
    await this.zip?.close();
  }
}

const EMPTY = Buffer.alloc(0);

function checkRatio(e: ZipEntry): void {
  if (e.size > Math.max(1 << 20, e.compressedSize * MAX_RATIO)) {
    throw limitExceeded('zip entry', `${e.name} claims to expand ${e.compressedSize} bytes to ${e.size}`, e.offset);
  }
}
