/**
 * An uncompressed tar of a root filesystem, read at random: the headers are indexed
 * once (bodies skipped), then files are read straight from their ranges in the archive.
 */
import type { ByteSource } from '../../sources/byte-source.js';
import type { FileType, NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';
import { MountfsError, corrupt } from '../../errors.js';
import { ArchiveTree } from './archive-tree.js';
import { indexTar, type TarDataRef } from './tar-index.js';
import type { TarEntryType } from './tar-header.js';
import { DISK_MEMBER_MIN, looksLikeDisk } from './disk-magic.js';

const ENTRY_TYPES: Partial<Record<TarEntryType, FileType | 'hardlink'>> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  hardlink: 'hardlink',
  char: 'char',
  block: 'block',
  fifo: 'fifo',
};

export class TarFileSystem implements RawFileSystem {
  readonly kind = 'tar';
  readonly root: NodeId = 0;
  private readonly problems: string[] = [];

  private constructor(
    private readonly source: ByteSource,
    private readonly tree: ArchiveTree<TarDataRef>,
  ) {}

  static async open(source: ByteSource): Promise<TarFileSystem> {
    const tree = new ArchiveTree<TarDataRef>();
    const fs = new TarFileSystem(source, tree);
    for await (const e of indexTar(source)) {
      const type = ENTRY_TYPES[e.type];
      if (!type) continue;
      try {
        tree.add({ ...e, type, content: e.data });
      } catch (err) {
        // One bad hard link must not hide the rest of the archive.
        if (!(err instanceof MountfsError)) throw err;
        fs.problems.push(err.message);
      }
    }
    return fs;
  }

  stat(node: NodeId): Promise<Stat> {
    return Promise.resolve(this.tree.stat(node));
  }

  readdir(node: NodeId): Promise<RawDirEntry[]> {
    return Promise.resolve(this.tree.readdir(node));
  }

  readlink(node: NodeId): Promise<string> {
    const n = this.tree.node(node);
    if (n.type !== 'symlink') throw corrupt('tar entry', `node ${String(node)} is not a symlink`);
    return Promise.resolve(n.linkTarget ?? '');
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const n = this.tree.node(node);
    const ref = n.content;
    if (n.type !== 'file' || !ref) throw corrupt('tar entry', `node ${String(node)} is not a regular file`);
    const end = Math.min(n.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    if (!ref.sparse) {
      if (end > ref.stored) throw corrupt('tar entry', `file data is shorter than its size`, ref.offset);
      return this.source.read(ref.offset + offset, end - offset);
    }
    const out = Buffer.alloc(end - offset);
    let packed = 0;
    for (const [runOff, runLen] of ref.sparse) {
      const from = Math.max(offset, runOff);
      const to = Math.min(end, runOff + runLen);
      if (from < to) (await this.source.read(ref.offset + packed + (from - runOff), to - from)).copy(out, from - offset);
      packed += runLen;
      if (runOff >= end) break;
    }
    return out;
  }

  /**
   * Members that are disk images rather than files of a root: an OVA's .ovf and its
   * disks, or large top-level members whose first bytes are a container or partition
   * table. An archive with /etc or /usr at its top is a root and has none.
   */
  async diskImageMembers(): Promise<Array<{ name: string; offset: number; size: number }>> {
    const top = this.tree.readdir(this.root);
    if (top.some((e) => (e.name === 'etc' || e.name === 'usr') && e.type === 'directory')) return [];
    const out: Array<{ name: string; offset: number; size: number }> = [];
    for (const e of top) {
      const n = this.tree.node(e.node);
      if (n.type !== 'file' || !n.content || n.content.sparse) continue;
      const ovf = e.name.toLowerCase().endsWith('.ovf');
      if (!ovf && (n.size < DISK_MEMBER_MIN || !looksLikeDisk(await this.source.read(n.content.offset, 4096)))) continue;
      out.push({ name: e.name, offset: n.content.offset, size: n.size });
    }
    return out;
  }

  notes(): string[] {
    return [...this.problems];
  }

  async close(): Promise<void> {}
}
