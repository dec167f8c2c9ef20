/**
 * Counts what a scan asks of a filesystem: operations (stat, readdir, readlink, read,
 * flags, digests), files read and bytes read. Tests bound these instead of the wall-clock
 * time a scan took, which a loaded machine stretches: a check that re-reads a file in a
 * loop, walks a symlink cycle or reads a whole huge file where a window would do shows up
 * in the counts, on any machine.
 */
import type { FileDigests, InodeFlags, NodeId, RawDirEntry, RawFileSystem, Stat } from '../../mountfs/fs/types.js';

export interface FsCounts {
  /** Every call into the filesystem. */
  operations: number;
  /** read() calls. */
  reads: number;
  /** Distinct files read from. */
  filesRead: number;
  bytesRead: number;
}

export class CountingFileSystem implements RawFileSystem {
  readonly kind: string;
  readonly root: NodeId;
  readonly flags?: (node: NodeId) => Promise<InodeFlags | undefined>;
  readonly digests?: (node: NodeId) => Promise<FileDigests | undefined>;
  private readonly counted: FsCounts = { operations: 0, reads: 0, filesRead: 0, bytesRead: 0 };
  private readonly filesRead = new Set<NodeId>();

  constructor(private readonly inner: RawFileSystem) {
    this.kind = inner.kind;
    this.root = inner.root;
    // Only what the inner filesystem has: the VFS asks for flags and digests when they exist.
    const { flags, digests } = inner;
    if (flags) this.flags = (node) => this.op(() => flags.call(inner, node));
    if (digests) this.digests = (node) => this.op(() => digests.call(inner, node));
  }

  get counts(): FsCounts {
    return { ...this.counted, filesRead: this.filesRead.size };
  }

  private op<T>(f: () => Promise<T>): Promise<T> {
    this.counted.operations++;
    return f();
  }

  stat(node: NodeId): Promise<Stat> {
    return this.op(() => this.inner.stat(node));
  }

  readdir(node: NodeId): Promise<RawDirEntry[]> {
    return this.op(() => this.inner.readdir(node));
  }

  readlink(node: NodeId): Promise<string> {
    return this.op(() => this.inner.readlink(node));
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const buf = await this.op(() => this.inner.read(node, offset, length));
    this.counted.reads++;
    this.filesRead.add(node);
    this.counted.bytesRead += buf.length;
    return buf;
  }

  notes(): string[] {
    return this.inner.notes();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
