/**
 * dpkg's database read offline as a PackageDatabase (src/facts/package-db.ts), the
 * way `debsums` and `dpkg --verify` see it:
 *
 * - /var/lib/dpkg/info/<pkg>[:<arch>].md5sums: "<md5>  <path without leading />" per
 *   regular file the package installed (dpkg-deb builds it from DEBIAN/md5sums);
 * - <pkg>.list: every path the package installed (directories and symlinks too), for
 *   ownership; paths the md5sums already gave are not repeated;
 * - <pkg>.conffiles and the status file's `Conffiles:` fields: configuration files the
 *   admin may change (config: true; their md5 comes from the status file). A
 *   .conffiles line may start with flags (deb-conffiles(5): `remove-on-upgrade /etc/x`,
 *   as bookworm's pkgconf ships), which are not part of the path;
 * - /var/lib/dpkg/diversions: a file of package P diverted by someone else keeps its
 *   path (dpkg -S still names P) and gets divertedTo, where P's bytes now are.
 *
 * Info files of a package the status file does not know are not dpkg's: dpkg writes a
 * package's status before its info files and removes them before forgetting it. They
 * are left out (so they cannot make a planted file "owned") and listed by
 * unregisteredInfo().
 *
 * Every file is streamed with bounded lines; a damaged line is counted and the file
 * reported once through onError, and the rest of it still counts.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { hasDatabaseAt, type PackageDatabase, type PackagedFile } from './package-db.js';
import { packagePath } from './package-path.js';
import { describeSkips, noSkips, vfsLines, type LineLimits } from './vfs-lines.js';
import { DIVERSIONS, readDiversions, type Diversion } from './dpkg-diversions.js';
import { DPKG_STATUS, DPKG_UPDATES, readDpkgStatus, type DpkgStatus } from './dpkg-status.js';

export const DPKG_INFO = '/var/lib/dpkg/info';
const SUFFIXES = ['.md5sums', '.list', '.conffiles'] as const;
type Suffix = (typeof SUFFIXES)[number];
/** Everything the reader opens, declared so single-pass sources keep it. */
export const DPKG_PATHS = [...SUFFIXES.map((s) => `${DPKG_INFO}/*${s}`), DPKG_STATUS, `${DPKG_UPDATES}/*`, DIVERSIONS];

/** The biggest real lists (linux-headers, texlive) are a few MiB. */
const LIMITS: LineLimits = { maxBytes: 32 << 20, maxLineBytes: 4096 + 40 };
/** A large server has a few thousand packages, each with a handful of info files. */
const MAX_INFO_ENTRIES = 200_000;
/** A desktop with thousands of packages records ~500k paths; more is junk that must not fill memory. */
const MAX_RECORDS = 2_000_000;
/** Debian policy 5.6.1: lower-case letters, digits, + - . ; at least two characters. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** deb-conffiles(5): flags, each a word and a space, before the path; dpkg 1.21 knows `remove-on-upgrade`. */
const CONFFILE_FLAGS = /^(?:[a-z][a-z-]{0,63} +){1,8}(?=\/)/;
const MD5SUMS_LINE = /^([0-9a-fA-F]{32}) [ *](.+)$/;

type OnError = (path: string, err: unknown) => void;

/** dpkg's database, or null when the root has none. */
export async function openDpkgDatabase(vfs: Vfs, onError: OnError): Promise<DpkgDatabase | null> {
  return (await hasDatabaseAt(vfs, DPKG_INFO, 'directory', onError)) ? new DpkgDatabase(vfs, onError) : null;
}

export class DpkgDatabase implements PackageDatabase {
  readonly kind = 'dpkg';
  readonly location = DPKG_INFO;
  private diversionsP?: Promise<Map<string, Diversion>>;
  private statusP?: Promise<DpkgStatus | undefined>;

  constructor(
    private readonly vfs: Vfs,
    private readonly onError: OnError,
  ) {}

  /** /var/lib/dpkg/diversions by diverted path, read once. */
  diversions(): Promise<Map<string, Diversion>> {
    this.diversionsP ??= readDiversions(this.vfs, this.onError);
    return this.diversionsP;
  }

  /** Info files whose package dpkg's status does not list, by package. */
  async unregisteredInfo(): Promise<Array<{ package: string; files: string[] }>> {
    const known = await this.knownPackages();
    if (!known) return [];
    const out: Array<{ package: string; files: string[] }> = [];
    for (const [stem, present] of await this.infoFiles()) {
      const pkg = stem.replace(/:.*$/, '');
      if (!known.has(pkg)) out.push({ package: pkg, files: present.map((s) => `${DPKG_INFO}/${stem}${s}`).sort() });
    }
    return out;
  }

  /** The packages status and its journal list; undefined when there is no usable status file to judge by. */
  private async knownPackages(): Promise<Set<string> | undefined> {
    this.statusP ??= readDpkgStatus(this.vfs, this.onError);
    const status = await this.statusP;
    return status && status.complete && status.packages.size > 0 ? status.packages : undefined;
  }

  async *files(): AsyncGenerator<PackagedFile> {
    let count = 0;
    for await (const file of this.records()) {
      if (++count > MAX_RECORDS) {
        this.onError(DPKG_INFO, new Error(`dpkg info: more than ${MAX_RECORDS} file records; the rest were not read`));
        return;
      }
      yield file;
    }
  }

  private async *records(): AsyncGenerator<PackagedFile> {
    const diversions = await this.diversions();
    const known = await this.knownPackages();
    const statusConffiles = (await this.statusP)?.conffiles ?? new Map<string, Map<string, string | undefined>>();
    for (const [stem, present] of await this.infoFiles()) {
      const pkg = stem.replace(/:.*$/, '');
      if (!PACKAGE_NAME.test(pkg)) {
        this.onError(`${DPKG_INFO}/${stem}${present[0]}`, new Error(`dpkg info: "${stem}" is not a package name; its files were not read`));
        continue;
      }
      if (known && !known.has(pkg)) continue;
      // A diverted file of this package lives where the diversion sent it, unless the package diverted it itself.
      const divertedTo = (path: string): string | undefined => {
        const d = diversions.get(path);
        return d && d.by !== pkg ? d.to : undefined;
      };
      const conffiles = new Map(statusConffiles.get(pkg));
      if (present.includes('.conffiles')) {
        for await (const path of this.paths(`${DPKG_INFO}/${stem}.conffiles`, CONFFILE_FLAGS)) if (!conffiles.has(path)) conffiles.set(path, undefined);
      }
      const given = new Set<string>();
      const record = (path: string, digest: string | undefined): PackagedFile => {
        given.add(path);
        const config = conffiles.has(path);
        const md5 = digest ?? conffiles.get(path);
        const to = divertedTo(path);
        return { path, package: pkg, config, ...(md5 ? { digest: md5, algorithm: 'md5' as const } : {}), ...(to ? { divertedTo: to } : {}) };
      };
      if (present.includes('.md5sums')) {
        for await (const entry of this.md5sums(`${DPKG_INFO}/${stem}.md5sums`)) yield record(entry.path, entry.md5);
      }
      if (present.includes('.list')) {
        for await (const path of this.paths(`${DPKG_INFO}/${stem}.list`)) if (!given.has(path)) yield record(path, undefined);
      }
      for (const path of conffiles.keys()) if (!given.has(path)) yield record(path, undefined);
    }
  }

  /** Info files by package stem ("libc6:amd64"), the suffixes present; sorted so every source yields the same order. */
  private async infoFiles(): Promise<Map<string, Suffix[]>> {
    const out = new Map<string, Suffix[]>();
    let entries;
    try {
      entries = await this.vfs.readdir(DPKG_INFO);
    } catch (err) {
      this.onError(DPKG_INFO, err);
      return out;
    }
    if (entries.length > MAX_INFO_ENTRIES) {
      this.onError(DPKG_INFO, new Error(`dpkg info: ${entries.length} entries; only the first ${MAX_INFO_ENTRIES} were read`));
    }
    for (const e of entries.slice(0, MAX_INFO_ENTRIES)) {
      if (e.type !== 'file') continue;
      const suffix = SUFFIXES.find((s) => e.name.endsWith(s));
      if (!suffix || e.name.length === suffix.length) continue;
      const stem = e.name.slice(0, -suffix.length);
      const list = out.get(stem);
      if (list) list.push(suffix);
      else out.set(stem, [suffix]);
    }
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** "<md5>  <path>" lines of an md5sums file. */
  private async *md5sums(file: string): AsyncGenerator<{ path: string; md5: string }> {
    let bad = 0;
    for await (const text of this.lines(file, () => bad)) {
      const m = MD5SUMS_LINE.exec(text);
      const path = m ? packagePath(m[2]!) : undefined;
      if (!m || !path) {
        if (text !== '') bad++;
        continue;
      }
      yield { path, md5: m[1]!.toLowerCase() };
    }
  }

  /** Absolute paths, one a line (.list, .conffiles), after what `flags` matches at the start of a line. */
  private async *paths(file: string, flags?: RegExp): AsyncGenerator<string> {
    let bad = 0;
    for await (const line of this.lines(file, () => bad)) {
      const text = flags ? line.replace(flags, '') : line;
      // Every .list starts with "/.", the root directory itself.
      if (text === '' || text === '/.') continue;
      const path = text.startsWith('/') ? packagePath(text) : undefined;
      if (path) yield path;
      else bad++;
    }
  }

  /** The lines of one info file; skips and bad lines (counted by the caller) are reported once at the end. */
  private async *lines(file: string, badLines: () => number): AsyncGenerator<string> {
    const skips = noSkips();
    try {
      for await (const { text } of vfsLines(this.vfs, file, LIMITS, skips)) yield text;
    } catch (err) {
      this.onError(file, err);
      return;
    }
    const bad = badLines();
    const said = [bad > 0 ? `${bad} line(s) that are not a digest and a path inside the root` : '', describeSkips(skips, LIMITS)].filter(Boolean).join('; ');
    if (said) this.onError(file, new Error(`dpkg info: ${said}`));
  }
}
