/**
 * Whether a file is still what its package installed: owned by a package and its bytes
 * matching the digest the package database recorded (dpkg's md5sums, a conffile's md5
 * in the status file, RPM's file digests). Content rules written for intruders' lines
 * also match lines distributions ship for good reasons (cloud-init's hotplug unit reads
 * its arguments from the socket systemd hands it, apparmor's init script tells how to
 * tear profiles down); a package's own unchanged file is no intruder's line, unless the
 * rule names malware itself (src/checks/shared/command-scan.ts).
 *
 * The digests are read from the databases once, on the first question, which most scans
 * never ask; each file asked about is hashed once, bounded in size.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import type { PackageDatabase, PackageDigestAlgorithm } from './package-db.js';
import { mergedUsrAliases } from './package-path.js';
import { streamDigests, type Digests } from '../hashes/hash-file.js';

export type PackageFileState =
  /** A package owns it and its bytes are one of the recorded digests. */
  | { kind: 'unchanged'; package: string }
  /** A package owns it but its bytes are not what was recorded (or nothing was recorded to compare). */
  | { kind: 'changed'; package: string }
  | { kind: 'unowned' }
  /** No package database, or the file could not be hashed. */
  | { kind: 'unknown' };

interface Recorded {
  package: string;
  digests: { digest: string; algorithm: PackageDigestAlgorithm }[];
}

/** Files a package verifies are configuration and scripts here: a few MiB is plenty, and bounds a hostile "unit". */
const MAX_HASHED_BYTES = 16 << 20;

export class PackageFileStates {
  private recorded?: Promise<Map<string, Recorded> | null>;
  private states = new Map<string, Promise<PackageFileState>>();

  constructor(
    private readonly vfs: Vfs,
    private readonly databases: () => Promise<PackageDatabase[]>,
  ) {}

  state(path: string): Promise<PackageFileState> {
    let s = this.states.get(path);
    if (!s) this.states.set(path, (s = this.compute(path)));
    return s;
  }

  private async compute(path: string): Promise<PackageFileState> {
    const map = await this.load();
    if (map === null) return { kind: 'unknown' };
    let entry: Recorded | undefined;
    for (const alias of mergedUsrAliases(path)) entry ??= map.get(alias);
    if (!entry) return { kind: 'unowned' };
    if (entry.digests.length === 0) return { kind: 'changed', package: entry.package };
    const algorithms = new Set(entry.digests.map((d) => d.algorithm));
    try {
      const real = await this.vfs.realpath(path);
      // A single-pass source computed MD5 and SHA-256 as the bytes went past.
      const known = await this.vfs.knownDigests(real);
      const hashed = known ? { kind: 'hashed' as const, digests: known as Digests } : await streamDigests(this.vfs, real, algorithms, MAX_HASHED_BYTES);
      if (hashed.kind !== 'hashed') return { kind: 'unknown' };
      const same = entry.digests.some((d) => hashed.digests[d.algorithm] === d.digest);
      return same ? { kind: 'unchanged', package: entry.package } : { kind: 'changed', package: entry.package };
    } catch {
      // The check that read the file reports why it could not be read.
      return { kind: 'unknown' };
    }
  }

  private load(): Promise<Map<string, Recorded> | null> {
    this.recorded ??= (async () => {
      const databases = await this.databases();
      if (databases.length === 0) return null;
      const map = new Map<string, Recorded>();
      for (const db of databases) {
        for await (const file of db.files()) {
          // A diverted file holds someone else's bytes: it is no package's as it stands.
          if (file.divertedTo) continue;
          let e = map.get(file.path);
          if (!e) map.set(file.path, (e = { package: file.package, digests: [] }));
          if (file.digest && file.algorithm) e.digests.push({ digest: file.digest.toLowerCase(), algorithm: file.algorithm });
        }
      }
      return map;
    })();
    return this.recorded;
  }
}
