/**
 * Which files the package manager installed, read offline from dpkg's file lists
 * (/var/lib/dpkg/info/*.list). Built once, on the first question, since most scans
 * never ask. On merged-/usr systems dpkg lists "/bin/ps" while the file lives in
 * "/usr/bin/ps": both spellings are tried.
 */
import type { Vfs } from '../../mountfs/vfs.js';

const DPKG_INFO = '/var/lib/dpkg/info';
const LIST_LIMIT = 16 << 20;
const MERGED_USR = ['/bin/', '/sbin/', '/lib/', '/lib32/', '/lib64/', '/libx32/'];

export class PackageOwnership {
  static readonly paths = [`${DPKG_INFO}/*.list`];
  private owners?: Promise<Map<string, string> | null>;

  constructor(
    private readonly vfs: Vfs,
    private readonly onError: (path: string, err: unknown) => void = () => undefined,
  ) {}

  /** Whether any package database was found at all. */
  async available(): Promise<boolean> {
    return (await this.load()) !== null;
  }

  /** The owning package, undefined when no package owns it, null when there is no package database. */
  async owner(path: string): Promise<string | undefined | null> {
    const map = await this.load();
    if (map === null) return null;
    for (const candidate of aliases(path)) {
      const pkg = map.get(candidate);
      if (pkg) return pkg;
    }
    return undefined;
  }

  private load(): Promise<Map<string, string> | null> {
    this.owners ??= this.readDpkgLists();
    return this.owners;
  }

  private async readDpkgLists(): Promise<Map<string, string> | null> {
    if (!(await this.vfs.exists(DPKG_INFO))) return null;
    const map = new Map<string, string>();
    for await (const entry of this.vfs.walk([`${DPKG_INFO}/*.list`])) {
      if (entry.stat.type !== 'file') continue;
      const pkg = entry.path.slice(DPKG_INFO.length + 1, -'.list'.length).replace(/:.*$/, '');
      let text: string;
      try {
        text = (await this.vfs.readFile(entry.path, { maxBytes: LIST_LIMIT })).toString('utf8');
      } catch (err) {
        this.onError(entry.path, err);
        continue;
      }
      for (const line of text.split('\n')) if (line.startsWith('/')) map.set(line, pkg);
    }
    return map;
  }
}

function aliases(path: string): string[] {
  const out = [path];
  for (const p of MERGED_USR) {
    if (path.startsWith(p)) out.push(`/usr${path}`);
    if (path.startsWith(`/usr${p}`)) out.push(path.slice(4));
  }
  return out;
}
