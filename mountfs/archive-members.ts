/**
 * The members of an archive as the files a disk inside it may name (an OVA's VMDK
 * descriptor and its flat extents, a qcow2 and its backing file in one tar): a disk
 * found in an archive resolves names among that archive's top-level regular members,
 * and nowhere on the scanning host (see sources/named-files.ts).
 */
import type { ByteSource } from './sources/byte-source.js';
import { archiveMembers, type NamedFiles } from './sources/named-files.js';
import type { NodeId, RawFileSystem } from './fs/types.js';

/**
 * `open` turns a member into a byte source: a tar member is read in place; a zip
 * member is spooled, since it cannot be read at random.
 */
export function membersOf(fs: RawFileSystem, where: string, open: (name: string, node: NodeId, size: number) => Promise<ByteSource>): NamedFiles {
  return archiveMembers(where, async (name) => {
    const entry = (await fs.readdir(fs.root)).find((e) => e.name === name);
    if (!entry) return null;
    const st = await fs.stat(entry.node);
    if (st.type !== 'file') return null;
    return open(name, entry.node, st.size);
  });
}

/** A member read through its filesystem's own `read` (tar: straight from the archive's bytes). */
export class MemberByteSource implements ByteSource {
  constructor(
    private readonly fs: RawFileSystem,
    private readonly node: NodeId,
    readonly size: number,
    readonly description: string,
  ) {}

  read(offset: number, length: number): Promise<Buffer> {
    return this.fs.read(this.node, offset, Math.max(0, Math.min(length, this.size - offset)));
  }

  /** The archive belongs to whoever opened it. */
  async close(): Promise<void> {}
}
