/**
 * The one read-only file system interface every check uses. It sits on any
 * RawFileSystem and owns, once for all readers: path walking, symlink resolution
 * inside the scanned root (an absolute target "/etc/x" means "<root>/etc/x", never the
 * scanning host's file), loop limits, read limits, glob walks, and file identity: every
 * stat carries an `id`, the same for all hard links to one file, so a check that must
 * read each file once (a crontab linked under two names) dedupes by it.
 */
import { Readable } from 'node:stream';
import { MountfsError, corrupt, limitExceeded, notFound } from './errors.js';
import { joinPath, normalizePath, splitPath } from './path.js';
import type { FileDigests, FileType, InodeFlags, NodeId, RawDirEntry, RawFileSystem, Stat as RawStat } from './fs/types.js';
import { compileGlob, type CompiledGlob, type GlobState } from './glob.js';

export type { FileDigests, FileType, InodeFlags } from './fs/types.js';

/**
 * Which file a stat describes within the scanned target: volume, device and inode, as
 * "v<volume>:<dev>:<ino>". Equal ids are one file (hard links), different ids are
 * different files; it stays the same for the whole scan. Compare ids, never parse them.
 */
export type FileId = string;

/** What the VFS says of a file: the reader's stat plus its identity. */
export interface Stat extends RawStat {
  id: FileId;
}

/** Linux gives up after 40 links in one lookup (ELOOP); so do we. */
const MAX_SYMLINK_FOLLOWS = 40;
const DEFAULT_MAX_BYTES = 1 << 20;
const STREAM_CHUNK = 256 * 1024;
const DIR_CACHE_ENTRIES = 200_000;
/** Walk bounds (WalkOptions); each one reached is reported through onError as a `limit` error. */
const DEFAULT_WALK_ENTRIES = 5_000_000;
const DEFAULT_WALK_DEPTH = 10_000;
const DEFAULT_DIR_ENTRIES = 1_000_000;

export interface DirEntry {
  name: string;
  type: FileType;
}

export interface WalkEntry {
  /** Absolute path inside the root. */
  path: string;
  /** lstat of the entry: symlinks are reported, not followed. */
  stat: Stat;
}

export interface WalkOptions {
  /** Stop after this many entries have been visited (protects against huge or looping trees). */
  maxEntries?: number;
  /**
   * Directories nested deeper than this below the root are not entered (default 10 000;
   * Linux has no limit of its own, so an attacker's tree may be deeper).
   */
  maxDepth?: number;
  /** Only this many entries of one directory are looked at (default 1 000 000). */
  maxDirEntries?: number;
  /**
   * Called for each directory that could not be read and each bound reached (a
   * MountfsError of kind `limit` saying what was left unread); the walk goes on.
   */
  onError?: (path: string, err: unknown) => void;
}

export interface ReadOptions {
  /** At most this many bytes are returned (default 1 MiB); compare with stat().size to spot a cut. */
  maxBytes?: number;
  /** Start here instead of at 0. */
  offset?: number;
}

export interface StreamOptions {
  start?: number;
  /** Exclusive end. */
  end?: number;
}

export interface Vfs {
  /** What the VFS reads: "ext4", "directory", ... */
  readonly kind: string;
  lstat(path: string): Promise<Stat>;
  stat(path: string): Promise<Stat>;
  exists(path: string): Promise<boolean>;
  readdir(path: string): Promise<DirEntry[]>;
  readlink(path: string): Promise<string>;
  /** The path with every symlink resolved inside the root. */
  realpath(path: string): Promise<string>;
  readFile(path: string, options?: ReadOptions): Promise<Buffer>;
  createReadStream(path: string, options?: StreamOptions): Readable;
  /** Every entry matching any of the globs (picomatch syntax on absolute paths, dot files included). */
  walk(globs: string[], options?: WalkOptions): AsyncGenerator<WalkEntry>;
  /** Immutable / append-only flags of the file the path names (no symlink following). */
  flags(path: string): Promise<InodeFlags | undefined>;
  /**
   * MD5 and SHA-256 of the file the path names (symlinks followed) when the source
   * computed them already; sources that can only be read once do, so hash with this
   * first and stream the file only when it gives undefined.
   */
  knownDigests(path: string): Promise<FileDigests | undefined>;
  /** Notes of the underlying filesystem, e.g. the journal needs recovery. */
  notes(): string[];
  close(): Promise<void>;
  /**
   * Named data streams (NTFS alternate data streams) of the file the path names
   * (symlinks followed): [] on filesystems without them.
   */
  streams?(path: string): Promise<StreamEntry[]>;
  /** Up to `maxBytes` (default 1 MiB) of the named stream `name` of the file the path names. */
  readStream?(path: string, name: string, options?: ReadOptions): Promise<Buffer>;
}

export interface StreamEntry {
  name: string;
  size: number;
}

interface Resolved {
  node: NodeId;
  path: string;
  stat: Stat;
}

/** The state of a glob that can match nothing more. */
const DEAD: GlobState = [];

/** Entries of one directory stat'ed at once during a walk. */
const STAT_BATCH = 32;

interface WalkCandidate {
  e: RawDirEntry;
  childPath: string;
  /** Each glob's state at this entry, so a directory's frame steps its entries by one name. */
  states: GlobState[];
  wantsEntry: boolean;
  mayDescend: boolean;
}

/** One directory on a walk's stack: its wanted entries, stat'ed a batch at a time. */
interface WalkFrame {
  /** String(node), for loop detection. */
  key: string;
  depth: number;
  wanted: WalkCandidate[];
  /** How many of `wanted` have been handed to statBatch. */
  statted: number;
  ready: (WalkCandidate & { stat: Stat | undefined })[];
  readyAt: number;
}

export class RawVfs implements Vfs {
  readonly kind: string;
  private dirCache = new Map<NodeId, Map<string, RawDirEntry>>();
  private dirCacheEntries = 0;

  /**
   * `checkpoint` is asked before every lookup, read chunk and walked directory, and
   * throws when the scan must stop (a time budget, a cancelled run): a check in a long
   * loop then stops at its next step, also on a directory target that reads no byte
   * source.
   */
  /** `volume`: the index of the filesystem's volume in the target, the first part of every FileId. */
  constructor(
    private readonly raw: RawFileSystem,
    private readonly checkpoint: () => void = () => undefined,
    private readonly volume = 0,
  ) {
    this.kind = raw.kind;
  }

  notes(): string[] {
    return this.raw.notes();
  }

  close(): Promise<void> {
    return this.raw.close();
  }

  async lstat(path: string): Promise<Stat> {
    return (await this.resolve(path, false)).stat;
  }

  async stat(path: string): Promise<Stat> {
    return (await this.resolve(path, true)).stat;
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.resolve(path, false);
      return true;
    } catch (err) {
      if (err instanceof MountfsError && err.kind === 'not-found') return false;
      throw err;
    }
  }

  async realpath(path: string): Promise<string> {
    return (await this.resolve(path, true)).path;
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const dir = await this.resolve(path, true);
    if (dir.stat.type !== 'directory') throw notFound(path, 'not a directory');
    const entries = await this.entries(dir.node);
    const out: DirEntry[] = [];
    for (const e of entries.values()) {
      out.push({ name: e.name, type: e.type ?? (await this.raw.stat(e.node)).type });
    }
    return out;
  }

  async streams(path: string): Promise<StreamEntry[]> {
    const r = await this.resolve(path, true);
    if (!this.raw.streams) return [];
    return (await this.raw.streams(r.node)).map(({ name, size }) => ({ name, size }));
  }

  async readStream(path: string, name: string, options: ReadOptions = {}): Promise<Buffer> {
    const r = await this.resolve(path, true);
    const stream = this.raw.streams ? (await this.raw.streams(r.node)).find((s) => s.name === name) : undefined;
    if (!stream) throw notFound(`${normalizePath(path)}:${name}`, 'no such stream');
    this.checkpoint();
    return this.raw.read(stream.node, options.offset ?? 0, Math.min(stream.size, options.maxBytes ?? DEFAULT_MAX_BYTES));
  }

  async readlink(path: string): Promise<string> {
    const r = await this.resolve(path, false);
    if (r.stat.type !== 'symlink') throw notFound(path, 'not a symbolic link');
    return this.raw.readlink(r.node);
  }

  async flags(path: string): Promise<InodeFlags | undefined> {
    const r = await this.resolve(path, false);
    if (r.stat.flags) return r.stat.flags;
    return this.raw.flags ? this.raw.flags(r.node) : undefined;
  }

  async knownDigests(path: string): Promise<FileDigests | undefined> {
    if (!this.raw.digests) return undefined;
    return this.raw.digests((await this.resolve(path, true)).node);
  }

  async readFile(path: string, options: ReadOptions = {}): Promise<Buffer> {
    const r = await this.resolve(path, true);
    if (r.stat.type !== 'file') throw notFound(path, `not a regular file (${r.stat.type})`);
    const offset = options.offset ?? 0;
    const want = Math.max(0, Math.min(r.stat.size - offset, options.maxBytes ?? DEFAULT_MAX_BYTES));
    if (want === 0) return Buffer.alloc(0);
    return this.raw.read(r.node, offset, want);
  }

  createReadStream(path: string, options: StreamOptions = {}): Readable {
    const self = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      const r = await self.resolve(path, true);
      if (r.stat.type !== 'file') throw notFound(path, `not a regular file (${r.stat.type})`);
      const end = Math.min(options.end ?? r.stat.size, r.stat.size);
      for (let pos = options.start ?? 0; pos < end; ) {
        self.checkpoint();
        const chunk = await self.raw.read(r.node, pos, Math.min(STREAM_CHUNK, end - pos));
        if (chunk.length === 0) break;
        pos += chunk.length;
        yield chunk;
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  async *walk(globs: string[], options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
    const compiled = globs.map(compileGlob);
    const limits = {
      entries: options.maxEntries ?? DEFAULT_WALK_ENTRIES,
      depth: options.maxDepth ?? DEFAULT_WALK_DEPTH,
      dirEntries: options.maxDirEntries ?? DEFAULT_DIR_ENTRIES,
    };
    const report = (path: string, err: unknown) => options.onError?.(path, err);
    // Depth-first, in directory order, with an explicit stack: a tree nested thousands of
    // levels deep (an attacker's, or a filesystem loop) costs one frame per level on the
    // heap, never a JavaScript call frame, so it cannot overflow the call stack.
    const budget = { left: limits.entries, reported: false };
    const ancestors = new Set<string>([String(this.raw.root)]);
    const stack: WalkFrame[] = [];
    const startStates = compiled.map((g) => g.start);
    const root = await this.openFrame(this.raw.root, '/', startStates, 0, compiled, budget, limits, report);
    if (root) stack.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.ready.length === top.readyAt) {
        if (top.statted >= top.wanted.length) {
          stack.pop();
          ancestors.delete(top.key);
          continue;
        }
        await this.statBatch(top, report);
        continue;
      }
      const { e, childPath, states, wantsEntry, mayDescend, stat } = top.ready[top.readyAt++]!;
      if (!stat) continue;
      if (wantsEntry) yield { path: childPath, stat };
      if (!mayDescend || stat.type !== 'directory') continue;
      const key = String(e.node);
      if (ancestors.has(key)) {
        report(childPath, corrupt('directory tree', `directory ${childPath} contains one of its own ancestors (node ${key})`));
        continue;
      }
      if (top.depth + 1 > limits.depth) {
        report(childPath, limitExceeded('directory walk', `directory ${childPath} is nested ${top.depth + 1} levels deep, past the limit of ${limits.depth}; what it holds was not read`));
        continue;
      }
      const child = await this.openFrame(e.node, childPath, states, top.depth + 1, compiled, budget, limits, report);
      if (!child) continue;
      ancestors.add(key);
      stack.push(child);
    }
  }

  /**
   * Lists one directory of a walk and picks the entries a glob wants or may descend
   * into. `states` are the globs' states at the directory itself: each entry steps them
   * by its own name, so a level costs the same path work however deep it lies.
   */
  private async openFrame(
    node: NodeId,
    path: string,
    states: GlobState[],
    depth: number,
    globs: CompiledGlob[],
    budget: { left: number; reported: boolean },
    limits: { dirEntries: number },
    report: (path: string, err: unknown) => void,
  ): Promise<WalkFrame | undefined> {
    let entries: Map<string, RawDirEntry>;
    this.checkpoint();
    try {
      entries = await this.entries(node);
    } catch (err) {
      report(path, err);
      return undefined;
    }
    if (entries.size > limits.dirEntries) {
      report(path, limitExceeded('directory walk', `directory ${path} has ${entries.size} entries; only the first ${limits.dirEntries} were read`));
    }
    const wanted: WalkCandidate[] = [];
    let seen = 0;
    for (const e of entries.values()) {
      if (seen++ >= limits.dirEntries) break;
      if (budget.left-- <= 0) {
        if (!budget.reported) {
          budget.reported = true;
          report(path, limitExceeded('directory walk', `entry limit reached in ${path}; walk stopped, the rest of the tree was not read`));
        }
        break;
      }
      const childStates = globs.map((g, i) => (g.live(states[i]!) ? g.step(states[i]!, e.name) : DEAD));
      const wantsEntry = globs.some((g, i) => g.accepts(childStates[i]!));
      const mayDescend = globs.some((g, i) => g.live(childStates[i]!));
      if (wantsEntry || mayDescend) wanted.push({ e, childPath: joinPath(path, e.name), states: childStates, wantsEntry, mayDescend });
    }
    return { key: String(node), depth, wanted, statted: 0, ready: [], readyAt: 0 };
  }

  /**
   * The entries a glob wants are stat'ed a batch at a time, concurrently (a mounted tree
   * answers each lstat after a syscall, a cloud snapshot after a block fetch), and
   * yielded in directory order.
   */
  private async statBatch(frame: WalkFrame, report: (path: string, err: unknown) => void): Promise<void> {
    this.checkpoint();
    const batch = frame.wanted.slice(frame.statted, frame.statted + STAT_BATCH);
    frame.statted += batch.length;
    const stats = await Promise.all(
      batch.map(({ e, childPath }) =>
        this.statNode(e.node).catch((err: unknown) => {
          report(childPath, err);
          return undefined;
        }),
      ),
    );
    frame.ready = batch.map((c, i) => ({ ...c, stat: stats[i] }));
    frame.readyAt = 0;
  }

  /** The reader's stat of a node, with the node's identity. */
  private async statNode(node: NodeId): Promise<Stat> {
    const stat = await this.raw.stat(node);
    return { ...stat, id: `v${this.volume}:${stat.dev ?? 0}:${stat.ino}` };
  }

  /** A name as this filesystem compares it (NTFS: case-insensitively, by its $UpCase table). */
  private fold(name: string): string {
    return this.raw.foldName ? this.raw.foldName(name) : name;
  }

  /** Directory entries by name, cached: checks look up the same few directories again and again. */
  private async entries(node: NodeId): Promise<Map<string, RawDirEntry>> {
    const cached = this.dirCache.get(node);
    if (cached) return cached;
    const list = await this.raw.readdir(node);
    const map = new Map<string, RawDirEntry>();
    for (const e of list) {
      if (e.name === '.' || e.name === '..' || e.name === '' || e.name.includes('/')) continue;
      const key = this.fold(e.name);
      // Names equal once folded (POSIX-namespace twins on NTFS) are both kept for walks; the
      // later one is looked up by its exact spelling.
      map.set(this.raw.foldName && map.has(key) ? `\0${e.name}` : key, e);
    }
    if (this.dirCacheEntries + map.size > DIR_CACHE_ENTRIES) {
      this.dirCache.clear();
      this.dirCacheEntries = 0;
    }
    this.dirCache.set(node, map);
    this.dirCacheEntries += map.size;
    return map;
  }

  /**
   * Walks `path` component by component from the root. Symlinks in the middle are
   * always followed, the last one only when `followLast`; targets are resolved against
   * the scanned root.
   */
  private async resolve(path: string, followLast: boolean): Promise<Resolved> {
    this.checkpoint();
    const rootStat = await this.statNode(this.raw.root);
    let stack: Resolved[] = [{ node: this.raw.root, path: '/', stat: rootStat }];
    // Components still to walk, the next one last: popping keeps a deep path linear.
    const pending = splitPath(path).reverse();
    let follows = 0;
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (name === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack[stack.length - 1]!;
      if (dir.stat.type !== 'directory') throw notFound(normalizePath(path), `${dir.path} is not a directory`);
      const entries = await this.entries(dir.node);
      const entry = entries.get(`\0${name}`) ?? entries.get(this.fold(name));
      if (!entry) throw notFound(normalizePath(path));
      const stat = await this.statNode(entry.node);
      const childPath = joinPath(dir.path, entry.name);
      if (stat.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++follows > MAX_SYMLINK_FOLLOWS) {
          throw corrupt('symbolic link', `too many levels of symbolic links resolving ${normalizePath(path)} (loop at ${childPath})`);
        }
        const target = await this.raw.readlink(entry.node);
        if (target.startsWith('/')) stack = stack.slice(0, 1);
        const parts = splitPath(target);
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
        continue;
      }
      stack.push({ node: entry.node, path: childPath, stat });
    }
    return stack[stack.length - 1]!;
  }
}
