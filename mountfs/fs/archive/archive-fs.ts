/**
 * What every archive reader shares: the tree of entries answers stat, readdir and
 * readlink, and entries that cannot be placed (a hard link to nothing) become notes
 * instead of hiding the rest of the archive. Each reader only says how bytes are read.
 */
import { corrupt, MountfsError } from '../../errors.js';
import type { NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';
import { ArchiveTree, type ArchiveEntryInput } from './archive-tree.js';

export abstract class ArchiveFileSystem<C> implements RawFileSystem {
  readonly root: NodeId = 0;
  protected readonly tree = new ArchiveTree<C>();
  protected readonly problems: string[] = [];
  /** What could not be read at all: the report's errors, not notes. */
  protected readonly unread: MountfsError[] = [];
  abstract readonly kind: string;

  /** Adds an entry; one that cannot be placed is noted and skipped. */
  protected addEntry(entry: ArchiveEntryInput<C>): void {
    try {
      this.tree.add(entry);
    } catch (err) {
      if (!(err instanceof MountfsError) || err.kind === 'limit') throw err;
      this.problems.push(err.message);
    }
  }

  stat(node: NodeId): Promise<Stat> {
    return Promise.resolve(this.tree.stat(node));
  }

  readdir(node: NodeId): Promise<RawDirEntry[]> {
    return Promise.resolve(this.tree.readdir(node));
  }

  readlink(node: NodeId): Promise<string> {
    const n = this.tree.node(node);
    if (n.type !== 'symlink') throw corrupt(`${this.kind} entry`, `node ${String(node)} is not a symlink`);
    return Promise.resolve(n.linkTarget ?? '');
  }

  abstract read(node: NodeId, offset: number, length: number): Promise<Buffer>;

  notes(): string[] {
    return [...this.problems];
  }

  unreadable(): MountfsError[] {
    return [...this.unread];
  }

  async close(): Promise<void> {}
}
