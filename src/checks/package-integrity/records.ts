/**
 * The package database records the integrity check needs, keyed by where the file
 * really is on this root. A database writes "/bin/ps"; on a merged-/usr root that is
 * /usr/bin/ps, and /lib64 may be a link into /usr/lib64: each recorded directory is
 * resolved inside the scanned root (once per directory), so the records meet the
 * files the walk finds, which are never reached through a symlinked directory.
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import { basename, dirname, joinPath } from '../../../mountfs/path.js';
import type { PackageDatabase, PackageDigestAlgorithm } from '../../facts/package-db.js';
import { mergedUsrAliases } from '../../facts/package-path.js';
import { placeOf } from './scope.js';

export interface RecordedDigest {
  digest: string;
  algorithm: PackageDigestAlgorithm;
  package: string;
}

/** What the databases say about one path; several packages may record the same file (multiarch, Replaces). */
export interface Expected {
  packages: string[];
  digests: RecordedDigest[];
  config: boolean;
  database: PackageDatabase;
  /** A symlink found here is compared by its target's text (apk's records). */
  linkDigest: boolean;
}

/** Resolves the directory part of recorded paths inside the root, once per directory. */
export class Canonicalizer {
  private dirs = new Map<string, Promise<string>>();

  constructor(private readonly vfs: Vfs) {}

  async path(path: string): Promise<string> {
    const dir = dirname(path);
    let real = this.dirs.get(dir);
    if (!real) {
      // A missing directory keeps its recorded spelling: the file is then simply missing.
      real = this.vfs.realpath(dir).catch(() => dir);
      this.dirs.set(dir, real);
    }
    return joinPath(await real, basename(path));
  }
}

/**
 * The records of files in scope, and of the `extra` paths (as they are on this root:
 * the libraries ld.so.preload names, wherever they are), by the path the file has on
 * this root.
 */
export async function scopeRecords(databases: PackageDatabase[], canon: Canonicalizer, extra: ReadonlySet<string> = new Set()): Promise<Map<string, Expected>> {
  const byPath = new Map<string, Expected>();
  const extraNames = new Set([...extra].map(basename));
  for (const database of databases) {
    for await (const file of database.files()) {
      // Most records (docs, /etc, /usr/share) are nowhere near the scope: skip them before any lookup.
      // A diverted file's bytes are at the divert-to path; what is at its own path is someone else's.
      const recorded = file.divertedTo ?? file.path;
      const maybeExtra = extraNames.has(basename(recorded));
      if (!maybeExtra && !mergedUsrAliases(recorded).some((p) => placeOf(p) !== undefined)) continue;
      const path = await canon.path(recorded);
      if (placeOf(path) === undefined && !(maybeExtra && extra.has(path))) continue;
      let e = byPath.get(path);
      if (!e) byPath.set(path, (e = { packages: [], digests: [], config: false, database, linkDigest: false }));
      if (file.linkDigest) e.linkDigest = true;
      if (!e.packages.includes(file.package)) e.packages.push(file.package);
      if (file.config) e.config = true;
      if (file.digest && file.algorithm) e.digests.push({ digest: file.digest.toLowerCase(), algorithm: file.algorithm, package: file.package });
    }
  }
  return byPath;
}
