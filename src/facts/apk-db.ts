/**
 * Alpine's package database read offline as a PackageDatabase (src/facts/package-db.ts),
 * the way `apk audit --system` and `apk info --who-owns` see it: /lib/apk/db/installed,
 * apk-tools' text database (doc/apk-package(5), src/database.c apk_db_fdb_read). One
 * block per package, blocks separated by an empty line, one "K:value" field a line:
 *
 * - P: the package name, V: its version (each block starts with them);
 * - F: a directory the package owns (relative to the root, no leading "/"), and
 *   M:uid:gid:mode its owner and mode;
 * - R: a file in the last F: directory (or the root), a:uid:gid:mode its owner and mode,
 *   Z: its checksum: "Q1" and the base64 of its SHA-1 (apk's default), "Q2" and the
 *   base64 of its SHA-256, or 32 hex digits of an MD5 (old databases);
 * - every other field (C:, A:, S:, I:, T:, U:, L:, o:, m:, t:, D:, p:, r:, i:, q:, ...)
 *   says nothing of the files and is passed over.
 *
 * apk keeps no list of configuration files: what lives under /etc is "protected"
 * (etc/apk/protected_paths.d), changed by admins and left alone by `apk fix`, so those
 * files are the configuration files here.
 *
 * The file is attacker-controlled: lines, fields a line, packages and file records are
 * capped, a record that breaks the format is left out, and what was left out is one
 * typed error per file (MountfsError `corrupt` or `limit`) naming the first line.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { corrupt, limitExceeded, type MountfsError } from '../../mountfs/errors.js';
import { hasDatabaseAt, type PackageDatabase, type PackageDigestAlgorithm, type PackagedFile } from './package-db.js';
import { packagePath } from './package-path.js';
import { describeSkips, noSkips, vfsLines, type LineLimits, type LineSkips } from './vfs-lines.js';

export const APK_INSTALLED = '/lib/apk/db/installed';
/** Everything the reader opens, declared so single-pass sources keep it. */
export const APK_PATHS = [APK_INSTALLED];

const STRUCTURE = 'apk installed database';
/** A large Alpine server's database is a few MiB (one line a file, ~100 bytes each). */
const LIMITS: LineLimits = { maxBytes: 64 << 20, maxLineBytes: 4096 + 8 };
/** Alpine's main and community repositories hold ~25k packages together. */
const MAX_PACKAGES = 100_000;
/** As for dpkg: more file records than a full desktop has is junk that must not fill memory. */
const MAX_RECORDS = 2_000_000;
/** apk's package names: letters, digits and + _ . - (apk_pkg_valid_name), first a letter or digit. */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+_.-]*$/;
const OWNER_MODE = /^\d{1,10}:\d{1,10}:[0-7]{1,6}$/;
const FIELD = /^([A-Za-z]):(.*)$/;

type OnError = (path: string, err: unknown) => void;

/** Alpine's database, or null when the root has none. */
export async function openApkDatabase(vfs: Vfs, onError: OnError): Promise<ApkDatabase | null> {
  return (await hasDatabaseAt(vfs, APK_INSTALLED, 'file', onError)) ? new ApkDatabase(vfs, onError) : null;
}

/** A Z: value as a digest: "Q1" base64 SHA-1, "Q2" base64 SHA-256, or hex MD5. */
export function apkChecksum(value: string): { digest: string; algorithm: PackageDigestAlgorithm } | undefined {
  if (/^[0-9a-fA-F]{32}$/.test(value)) return { digest: value.toLowerCase(), algorithm: 'md5' };
  const kinds: Record<string, [PackageDigestAlgorithm, number]> = { Q1: ['sha1', 20], Q2: ['sha256', 32] };
  const kind = kinds[value.slice(0, 2)];
  const b64 = value.slice(2);
  if (!kind || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const bytes = Buffer.from(b64, 'base64');
  return bytes.length === kind[1] ? { digest: bytes.toString('hex'), algorithm: kind[0] } : undefined;
}

/** What a read of the database left out: counted, with the first line, and said once. */
class Damage {
  count = 0;
  first?: { line: number; why: string };
  limit?: MountfsError;

  add(line: number, why: string): void {
    this.count++;
    this.first ??= { line, why };
  }

  errors(skips: LineSkips): MountfsError[] {
    const out: MountfsError[] = [];
    if (this.first) {
      const more = this.count > 1 ? ` (and ${this.count - 1} more line(s) left out)` : '';
      out.push(corrupt(STRUCTURE, `line ${this.first.line}: ${this.first.why}; the record was left out${more}`));
    }
    const skipped = describeSkips(skips, LIMITS);
    if (skipped) out.push(limitExceeded(STRUCTURE, skipped));
    if (this.limit) out.push(this.limit);
    return out;
  }
}

export class ApkDatabase implements PackageDatabase {
  readonly kind = 'apk';
  readonly location = APK_INSTALLED;

  constructor(
    private readonly vfs: Vfs,
    private readonly onError: OnError,
  ) {}

  async *files(): AsyncGenerator<PackagedFile> {
    const skips = noSkips();
    const damage = new Damage();
    try {
      yield* this.records(skips, damage);
    } catch (err) {
      this.onError(APK_INSTALLED, err);
    }
    for (const err of damage.errors(skips)) this.onError(APK_INSTALLED, err);
  }

  private async *records(skips: LineSkips, damage: Damage): AsyncGenerator<PackagedFile> {
    let pkg: string | undefined;
    let packages = 0;
    let records = 0;
    let dir: string | undefined = '';
    // The file of the last R: line, given once its Z: (or the next R:, F: or package) is read.
    let pending: { path: string; digest?: ReturnType<typeof apkChecksum> } | undefined;
    // The last R: was left out: its Z: goes with it, unremarked.
    let lost = false;
    const flush = (): PackagedFile | undefined => {
      const p = pending;
      pending = undefined;
      if (!p || pkg === undefined) return undefined;
      // apk sums a symlink's target text, not the file it leads to.
      return { path: p.path, package: pkg, config: p.path.startsWith('/etc/'), ...(p.digest ? { ...p.digest, linkDigest: true } : {}) };
    };
    const over = (line: number): boolean => {
      if (++records <= MAX_RECORDS) return false;
      damage.limit = limitExceeded(STRUCTURE, `line ${line}: more than ${MAX_RECORDS} file records; the rest were not read`);
      return true;
    };
    for await (const { text, line } of vfsLines(this.vfs, APK_INSTALLED, LIMITS, skips)) {
      if (text === '') {
        const f = flush();
        if (f) yield f;
        pkg = undefined;
        dir = '';
        lost = false;
        continue;
      }
      const m = FIELD.exec(text);
      if (!m) {
        damage.add(line, 'not a "K:value" field');
        continue;
      }
      const [, key, value] = m as unknown as [string, string, string];
      if (key === 'P') {
        const f = flush();
        if (f) yield f;
        if (!PACKAGE_NAME.test(value)) {
          damage.add(line, `"${value.slice(0, 64)}" is not a package name`);
          pkg = undefined;
          continue;
        }
        if (++packages > MAX_PACKAGES) {
          damage.limit = limitExceeded(STRUCTURE, `line ${line}: more than ${MAX_PACKAGES} packages; the rest were not read`);
          return;
        }
        pkg = value;
        dir = '';
        continue;
      }
      if (key !== 'F' && key !== 'R' && key !== 'Z' && key !== 'M' && key !== 'a') continue;
      if (pkg === undefined) {
        damage.add(line, `${key}: before the P: of its package`);
        continue;
      }
      if (key === 'F') {
        const f = flush();
        if (f) yield f;
        const path = packagePath(value);
        dir = path;
        if (!path) {
          damage.add(line, `directory "${value.slice(0, 64)}" is not a path inside the root`);
          continue;
        }
        if (over(line)) return;
        yield { path, package: pkg, config: false };
      } else if (key === 'R') {
        const f = flush();
        if (f) yield f;
        lost = true;
        if (dir === undefined) continue; // Its directory was left out (and said) already.
        const path = !value.includes('/') ? packagePath(`${dir}/${value}`) : undefined;
        if (!path) {
          damage.add(line, `file "${value.slice(0, 64)}" is not a name in its directory`);
          continue;
        }
        if (over(line)) return;
        lost = false;
        pending = { path };
      } else if (key === 'Z') {
        if (!pending) {
          if (!lost) damage.add(line, 'Z: with no R: before it');
          lost = false;
          continue;
        }
        const digest = apkChecksum(value);
        if (!digest) {
          damage.add(line, `checksum "${value.slice(0, 64)}" is neither Q1/Q2 base64 nor an MD5`);
          pending = undefined;
          continue;
        }
        pending.digest = digest;
        const f = flush();
        if (f) yield f;
      } else if (!OWNER_MODE.test(value)) {
        damage.add(line, `${key}: "${value.slice(0, 64)}" is not uid:gid:mode`);
      }
    }
    const f = flush();
    if (f) yield f;
  }
}
