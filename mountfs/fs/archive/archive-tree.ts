/**
 * The directory tree of an archive of a root filesystem (tar, zip), built from its
 * entry list the way extracting it builds the tree on disk, since that is what a
 * restored server runs:
 *  - names are untrusted: "/etc/x" and "./a//b" are normalised inside the root, so no
 *    entry can land outside it. A name with a ".." component is not extracted by GNU
 *    tar at all ("Member name contains '..'"), so tar readers skip it (a later benign
 *    "x/../etc/cron.d/job" must not hide an earlier malicious "etc/cron.d/job"); unzip
 *    drops the ".." components ("skipped "../" path component(s)") and extracts
 *    "x/../etc/job" as x/etc/job, and so does the zip reader;
 *  - the LAST entry of a path wins, as extraction overwrites; a hard link shares the
 *    node its target has at that point, so replacing the target later leaves the link
 *    with the old contents, as on disk;
 *  - a file over an empty directory replaces it, but a file over a non-empty directory
 *    does not (tar and unzip fail to remove it: "Cannot open: File exists"), so a later
 *    entry cannot hide what an earlier directory holds; a directory over a file, and a
 *    path through a file, replace the file, as tar does.
 * How a file's bytes are fetched is left to the archive's reader (the `content` ref).
 */
import { corrupt, limitExceeded } from '../../errors.js';
import type { FileType, NodeId, RawDirEntry, Stat } from '../types.js';

/** Far more entries than any root filesystem holds; beyond it the index would eat memory. */
const MAX_ENTRIES = 5_000_000;

export interface ArchiveNode<C> {
  ino: number;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  atime?: number;
  ctime?: number;
  nlink: number;
  children?: Map<string, ArchiveNode<C>>;
  linkTarget?: string;
  content?: C;
}

export interface ArchiveEntryInput<C> {
  /** The entry's name as stored; normalised here. */
  name: string;
  type: FileType | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  atime?: number;
  ctime?: number;
  /** Symlink target, or for a hard link the name of the entry it links to. */
  linkname?: string;
  content?: C;
}

/** What an entry whose name has a ".." component does, as the archive's extractor does it. */
export type DotDot = 'skip' | 'drop';

const TYPE_BITS: Record<FileType, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
  unknown: 0,
};

export class ArchiveTree<C> {
  readonly nodes: ArchiveNode<C>[] = [];
  readonly root: ArchiveNode<C>;

  /** `dotDot`: what an entry whose name has a ".." component does: skipped (tar), or placed without its ".." components (zip). */
  constructor(private readonly dotDot: DotDot) {
    this.root = this.newNode({ type: 'directory', mode: 0o040755, uid: 0, gid: 0, size: 0, mtime: 0 });
  }

  /** Components of an archive name, normalised inside the root: ".." goes up (never above the root), or with `drop` is left out. */
  static components(name: string, dotDot: 'up' | 'drop' = 'up'): string[] {
    const out: string[] = [];
    for (const part of name.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (dotDot === 'up') out.pop();
      } else out.push(part);
    }
    return out;
  }

  add(entry: ArchiveEntryInput<C>): void {
    if (this.nodes.length >= MAX_ENTRIES) throw limitExceeded('archive index', `more than ${MAX_ENTRIES} entries`);
    if (this.dotDot === 'skip' && entry.name.split('/').includes('..')) {
      throw corrupt('archive entry', `${entry.name}: a name with a ".." component is not extracted (GNU tar refuses it), so it is not read either`);
    }
    const parts = ArchiveTree.components(entry.name, 'drop');
    if (parts.length === 0) {
      if (entry.type === 'directory') Object.assign(this.root, { mode: withType('directory', entry.mode), uid: entry.uid, gid: entry.gid, mtime: entry.mtime });
      return;
    }
    const parent = this.directory(parts.slice(0, -1));
    const name = parts[parts.length - 1]!;
    const existing = parent.children!.get(name);
    if (entry.type !== 'directory' && existing?.children && existing.children.size > 0) {
      throw corrupt('archive entry', `${entry.name}: a ${entry.type} over a non-empty directory is not extracted (tar cannot remove the directory), so the directory is kept`);
    }
    if (entry.type === 'hardlink') {
      const target = this.lookup(ArchiveTree.components(entry.linkname ?? ''));
      if (!target || target.type === 'directory') {
        throw corrupt('archive hard link', `${entry.name} links to ${entry.linkname}, which is not an earlier file of the archive`);
      }
      target.nlink++;
      parent.children!.set(name, target);
      return;
    }
    if (existing && existing.type === 'directory' && entry.type === 'directory') {
      Object.assign(existing, { mode: withType('directory', entry.mode), uid: entry.uid, gid: entry.gid, mtime: entry.mtime });
      return;
    }

    const node = this.newNode({
      type: entry.type,
      mode: withType(entry.type, entry.mode),
      uid: entry.uid,
      gid: entry.gid,
      size: entry.type === 'file' ? entry.size : entry.type === 'symlink' ? Buffer.byteLength(entry.linkname ?? '') : 0,
      mtime: entry.mtime,
      atime: entry.atime,
      ctime: entry.ctime,
      linkTarget: entry.type === 'symlink' ? entry.linkname ?? '' : undefined,
      content: entry.content,
    });
    parent.children!.set(name, node);
  }

  node(id: NodeId): ArchiveNode<C> {
    const n = typeof id === 'number' ? this.nodes[id] : undefined;
    if (!n) throw corrupt('archive index', `no node ${String(id)}`);
    return n;
  }

  stat(id: NodeId): Stat {
    const n = this.node(id);
    return {
      type: n.type,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      size: n.size,
      atime: n.atime ?? n.mtime,
      mtime: n.mtime,
      ctime: n.ctime ?? n.mtime,
      ino: n.ino,
      nlink: n.nlink,
    };
  }

  readdir(id: NodeId): RawDirEntry[] {
    const n = this.node(id);
    if (!n.children) throw corrupt('archive index', `node ${String(id)} is not a directory`);
    return [...n.children].map(([name, child]) => ({ name, node: child.ino, type: child.type }));
  }

  private lookup(parts: string[]): ArchiveNode<C> | undefined {
    let cur: ArchiveNode<C> | undefined = this.root;
    for (const p of parts) cur = cur?.children?.get(p);
    return cur;
  }

  /** The directory at parts, made (and a non-directory in the way replaced) as extraction would. */
  private directory(parts: string[]): ArchiveNode<C> {
    let cur = this.root;
    for (const p of parts) {
      let next = cur.children!.get(p);
      if (!next || next.type !== 'directory') {
        next = this.newNode({ type: 'directory', mode: 0o040755, uid: 0, gid: 0, size: 0, mtime: 0 });
        cur.children!.set(p, next);
      }
      cur = next;
    }
    return cur;
  }

  private newNode(init: Omit<ArchiveNode<C>, 'ino' | 'nlink' | 'children'>): ArchiveNode<C> {
    const node: ArchiveNode<C> = { ...init, ino: this.nodes.length, nlink: 1 };
    if (init.type === 'directory') node.children = new Map();
    this.nodes.push(node);
    return node;
  }
}

function withType(type: FileType, mode: number): number {
  return (mode & 0o7777) | TYPE_BITS[type];
}
