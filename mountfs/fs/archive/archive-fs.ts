/**
 * What every archive reader shares: the tree of entries answers stat, readdir and
 * readlink, and entries that cannot be placed (a hard link to nothing) become notes
 * instead of hiding the rest of the archive. An archive that breaks off (truncated,
 * damaged past some entry) keeps the entries read before the break; the break is an
 * error of the filesystem, which makes the scan incomplete. Each reader only says how
 * bytes are read.
 */
import { corrupt, MountfsError } from '../../errors.js';
import type { NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';
import { ArchiveTree, type ArchiveEntryInput, type DotDot } from './archive-tree.js';

/** Notes on single entries kept in full; past this they are counted (a hostile archive may have millions). */
const MAX_ENTRY_NOTES = 100;

export abstract class ArchiveFileSystem<C> implements RawFileSystem {
  readonly root: NodeId = 0;
  protected readonly tree: ArchiveTree<C>;
  protected readonly problems: string[] = [];
  /** What could not be read at all: the report's errors, not notes. */
  protected readonly unread: MountfsError[] = [];
  /** Entries added, placed or not. */
  protected entries = 0;
  private unnoted = 0;
  abstract readonly kind: string;

  constructor(dotDot: DotDot) {
    this.tree = new ArchiveTree<C>(dotDot);
  }

  /** Adds an entry; one that cannot be placed is noted and skipped. */
  protected addEntry(entry: ArchiveEntryInput<C>): void {
    this.entries++;
    try {
      this.tree.add(entry);
    } catch (err) {
      if (!(err instanceof MountfsError) || err.kind === 'limit') throw err;
      if (this.problems.length < MAX_ENTRY_NOTES) this.problems.push(err.message);
      else this.unnoted++;
    }
  }

  /**
   * After an error part-way through the archive: keeps what was read when anything was
   * (the error then says the rest is missing), rethrows when nothing was.
   */
  protected brokeOff(err: MountfsError): void {
    if (this.entries === 0) throw err;
    const where = `${err.structure}${err.offset !== undefined ? ` at offset ${err.offset}` : ''}: `;
    const why = err.message.startsWith(where) ? err.message.slice(where.length) : err.message;
    this.unread.push(new MountfsError(err.kind, err.structure, `${why}; the ${this.entries} entries before it were read, the rest of the archive was not`, err.offset));
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
    return this.unnoted ? [...this.problems, `${this.unnoted} more entries could not be placed`] : [...this.problems];
  }

  unreadable(): MountfsError[] {
    return [...this.unread];
  }

  async close(): Promise<void> {}
}
