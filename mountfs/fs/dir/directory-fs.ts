/**
 * A host directory as a filesystem: an image the analyst already mounted read-only,
 * e.g. `minescan scan /mnt/evidence`. Nodes are paths relative to the root, and the VFS
 * above walks them one component at a time, so this reader never follows a symlink
 * itself: it only lstat()s, readlink()s and opens with O_NOFOLLOW. Immutable and
 * append-only flags come from the host's `lsattr`, one call per directory, cached.
 */
import { constants, promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { ioError, notFound } from '../../errors.js';
import type { ReadCounter } from '../../sources/byte-source.js';
import type { FileType, InodeFlags, NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';

const execFileAsync = promisify(execFile);
const FLAGS_CACHE_DIRS = 512;

export class DirectoryFileSystem implements RawFileSystem {
  readonly kind = 'directory';
  readonly root: NodeId = '';
  private flagsByDir = new Map<string, Map<string, InodeFlags> | null>();

  private constructor(
    readonly hostRoot: string,
    private readonly counter?: ReadCounter,
  ) {}

  static async open(hostRoot: string, counter?: ReadCounter): Promise<DirectoryFileSystem> {
    const abs = path.resolve(hostRoot);
    const st = await fsp.stat(abs);
    if (!st.isDirectory()) throw notFound(hostRoot, 'not a directory');
    return new DirectoryFileSystem(abs, counter);
  }

  private host(node: NodeId): string {
    return node === '' ? this.hostRoot : path.join(this.hostRoot, String(node));
  }

  async stat(node: NodeId): Promise<Stat> {
    let st: Stats;
    try {
      st = await fsp.lstat(this.host(node));
    } catch (err) {
      throw hostError(node, err);
    }
    return {
      type: fileType(st),
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      size: st.size,
      atime: st.atimeMs / 1000,
      mtime: st.mtimeMs / 1000,
      ctime: st.ctimeMs / 1000,
      crtime: st.birthtimeMs > 0 ? st.birthtimeMs / 1000 : undefined,
      ino: st.ino,
      dev: st.dev,
      nlink: st.nlink,
    };
  }

  async readdir(node: NodeId): Promise<RawDirEntry[]> {
    let dirents;
    try {
      dirents = await fsp.readdir(this.host(node), { withFileTypes: true });
    } catch (err) {
      throw hostError(node, err);
    }
    return dirents.map((d) => ({
      name: d.name,
      node: node === '' ? d.name : `${node}/${d.name}`,
      type: d.isFile() ? 'file' : d.isDirectory() ? 'directory' : d.isSymbolicLink() ? 'symlink' : undefined,
    }));
  }

  async readlink(node: NodeId): Promise<string> {
    try {
      return await fsp.readlink(this.host(node));
    } catch (err) {
      throw hostError(node, err);
    }
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    let fh;
    try {
      fh = await fsp.open(this.host(node), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw hostError(node, err);
    }
    try {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (this.counter) this.counter.bytesRead += got;
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  async flags(node: NodeId): Promise<InodeFlags | undefined> {
    const rel = String(node);
    const dir = rel === '' ? '' : path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
    const name = rel === '' ? '.' : path.posix.basename(rel);
    let table = this.flagsByDir.get(dir);
    if (table === undefined) {
      table = await this.lsattrDirectory(dir);
      if (this.flagsByDir.size >= FLAGS_CACHE_DIRS) this.flagsByDir.clear();
      this.flagsByDir.set(dir, table);
    }
    return table?.get(name);
  }

  /**
   * `lsattr -a DIR` prints one line per entry: "<attrs> <DIR>/<name>". Symlinks and
   * devices are skipped by lsattr itself. A filesystem without attributes (tmpfs,
   * overlay) makes lsattr fail: then nothing can be told, and undefined is returned.
   */
  private async lsattrDirectory(dir: string): Promise<Map<string, InodeFlags> | null> {
    const hostDir = this.host(dir);
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync('lsattr', ['-a', hostDir], { maxBuffer: 64 << 20 }));
    } catch (err) {
      const out = (err as { stdout?: string }).stdout;
      if (!out) return null;
      stdout = out;
    }
    const table = new Map<string, InodeFlags>();
    const prefix = hostDir.endsWith('/') ? hostDir : `${hostDir}/`;
    for (const line of stdout.split('\n')) {
      const space = line.indexOf(' ');
      if (space <= 0) continue;
      const attrs = line.slice(0, space);
      const full = line.slice(space + 1);
      if (!full.startsWith(prefix)) continue;
      const name = full.slice(prefix.length);
      table.set(name, { immutable: attrs.includes('i'), appendOnly: attrs.includes('a') });
    }
    return table;
  }

  notes(): string[] {
    return [];
  }

  async close(): Promise<void> {
    this.flagsByDir.clear();
  }
}

function fileType(st: Stats): FileType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

function hostError(node: NodeId, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFound(`/${node}`);
  return ioError(`/${node}`, (err as Error).message);
}
