/**
 * Which package databases a root has (dpkg, RPM, apk), and the paths the package tools manage without
 * any package listing them (dpkg diversions, alternatives links). The integrity check
 * and package ownership both start here, so neither knows which package manager a
 * root uses.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import type { PackageDatabase, PackagedFile } from './package-db.js';
import { DPKG_PATHS, DpkgDatabase, openDpkgDatabase } from './dpkg-db.js';
import { ALTERNATIVES_PATHS, readAlternativeLinks } from './alternatives.js';
import { LOCAL_DIVERSION } from './dpkg-diversions.js';
import { openRpmDatabase } from './rpm/rpm-db.js';
import { APK_PATHS, openApkDatabase } from './apk-db.js';

/** rpm's %_dbpath (classic and /usr/lib/sysimage) and the backend files src/facts/rpm reads. */
const RPM_PATHS = ['/var/lib/rpm', '/usr/lib/sysimage/rpm'].flatMap((d) =>
  ['rpmdb.sqlite', 'rpmdb.sqlite-wal', 'Packages', 'Packages.db'].map((f) => `${d}/${f}`),
);
/** Everything the databases and managed paths are read from. */
export const PACKAGE_DB_PATHS = [...DPKG_PATHS, ...RPM_PATHS, ...APK_PATHS, ...ALTERNATIVES_PATHS];

type OnError = (path: string, err: unknown) => void;

/** The databases, each read once however many checks ask (package ownership and the integrity check both do). */
export async function openPackageDatabases(vfs: Vfs, onError: OnError): Promise<PackageDatabase[]> {
  const out: PackageDatabase[] = [];
  const dpkg = await openDpkgDatabase(vfs, onError);
  if (dpkg) out.push(dpkg);
  const rpm = await openRpmDatabase(vfs, onError);
  if (rpm) out.push(rpm);
  const apk = await openApkDatabase(vfs, onError);
  if (apk) out.push(apk);
  return out.map((db) => new ReadOnce(db));
}

/** A database whose records are read on the first iteration and kept; its readers bound how many there are. */
class ReadOnce implements PackageDatabase {
  readonly kind: PackageDatabase['kind'];
  readonly location: string;
  private records?: Promise<PackagedFile[]>;

  constructor(readonly inner: PackageDatabase) {
    this.kind = inner.kind;
    this.location = inner.location;
  }

  async *files(): AsyncGenerator<PackagedFile> {
    this.records ??= (async () => {
      const all: PackagedFile[] = [];
      for await (const f of this.inner.files()) all.push(f);
      return all;
    })();
    yield* await this.records;
  }
}

/** The dpkg database among them, if the root has one. */
export function dpkgDatabaseOf(databases: PackageDatabase[]): DpkgDatabase | undefined {
  for (const outer of databases) {
    const db = outer instanceof ReadOnce ? outer.inner : outer;
    if (db instanceof DpkgDatabase) return db;
  }
  return undefined;
}

/** Why the package tools put a file there, by path as their databases write it. */
export type ManagedPaths = Map<string, string>;

export async function readManagedPaths(vfs: Vfs, databases: PackageDatabase[], onError: OnError): Promise<ManagedPaths> {
  const out: ManagedPaths = new Map();
  const dpkg = dpkgDatabaseOf(databases);
  for (const d of dpkg ? (await dpkg.diversions()).values() : []) {
    const who = d.by === LOCAL_DIVERSION ? 'the admin (dpkg-divert --local)' : `package ${d.by}`;
    out.set(d.from, `diverted to ${d.to} by ${who}`);
  }
  for (const a of await readAlternativeLinks(vfs, onError)) {
    if (!out.has(a.link)) out.set(a.link, `a link of the "${a.group}" alternatives`);
  }
  return out;
}
