/**
 * An uncompressed tar of a root filesystem, read at random: the headers are indexed
 * once (bodies skipped), then files are read straight from their ranges in the archive.
 */
import type { ByteSource } from '../../sources/byte-source.js';
import type { FileType, NodeId } from '../types.js';
import { corrupt, MountfsError } from '../../errors.js';
import { ArchiveFileSystem } from './archive-fs.js';
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

export class TarFileSystem extends ArchiveFileSystem<TarDataRef> {
  readonly kind = 'tar';

  private constructor(private readonly source: ByteSource) {
    super('skip');
  }

  static async open(source: ByteSource): Promise<TarFileSystem> {
    const fs = new TarFileSystem(source);
    try {
      for await (const e of indexTar(source)) {
        const type = ENTRY_TYPES[e.type];
        if (type) fs.addEntry({ ...e, type, content: e.data });
      }
    } catch (err) {
      if (!(err instanceof MountfsError)) throw err;
      fs.brokeOff(err);
    }
    return fs;
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
    // An OVA names its disks in the .ovf: there even a small (compressed) disk counts.
    const ova = top.some((e) => e.name.toLowerCase().endsWith('.ovf'));
    for (const e of top) {
      const n = this.tree.node(e.node);
      if (n.type !== 'file' || !n.content || n.content.sparse) continue;
      const ovf = e.name.toLowerCase().endsWith('.ovf');
      if (!ovf && ((!ova && n.size < DISK_MEMBER_MIN) || !looksLikeDisk(await this.source.read(n.content.offset, Math.min(4096, n.size))))) continue;
      out.push({ name: e.name, offset: n.content.offset, size: n.size });
    }
    return out;
  }
}
