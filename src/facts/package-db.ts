/**
 * What every package database reader gives the integrity checks: the files a package
 * installed, with the digest the package recorded for each. dpkg (info/*.md5sums,
 * info/*.list) and RPM (rpmdb.sqlite, Berkeley DB Packages) readers both produce this
 * shape, and so does apk's installed database (apk-db.ts), so the checks never know
 * which package manager a root uses.
 */
import type { FileType, Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';

export type PackageDigestAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sha224';

export interface PackagedFile {
  /** Absolute path as the package database records it (not yet merged-/usr aliased). */
  path: string;
  /** Name of the owning package. */
  package: string;
  /** Lower-case hex digest recorded at install time; absent for directories, symlinks, ghosts. */
  digest?: string;
  algorithm?: PackageDigestAlgorithm;
  /** A configuration file the admin may legitimately change. */
  config: boolean;
  /**
   * Where the package's bytes are when another package or the admin diverted the file
   * (dpkg-divert): `path` then holds something else by design, and this is what to verify.
   */
  divertedTo?: string;
  /** When the file is a symlink, `digest` is of its target's text (apk sums links so), not of what it leads to. */
  linkDigest?: boolean;
}

export interface PackageDatabase {
  readonly kind: 'dpkg' | 'rpm' | 'apk';
  /** Where the database was read from, e.g. "/var/lib/dpkg/info" or "/var/lib/rpm/rpmdb.sqlite". */
  readonly location: string;
  /** Every file record with a digest or ownership; damaged records go to onError, the rest are yielded. */
  files(): AsyncIterable<PackagedFile>;
}

/**
 * Whether the root holds a package database at `path` (of `type`): absent is no
 * database, and any other failure to look is said through `onError` too.
 */
export async function hasDatabaseAt(vfs: Vfs, path: string, type: FileType, onError: (path: string, err: unknown) => void): Promise<boolean> {
  try {
    return (await vfs.stat(path)).type === type;
  } catch (err) {
    if (!isNotFound(err)) onError(path, err);
    return false;
  }
}
