/**
 * The hash check: digests of the files that matter, looked up in the hash lists.
 *
 * Which files: every file a persistence check recorded as started (ctx.started); when
 * any list is loaded (the bundled list of published miner hashes is, by default) the
 * executables in the temporary directories miners drop into; and when the user gave a
 * list (--hashes) every executable in the system command directories, init.d and the
 * cron.* directories too. Hashing every system binary costs minutes on a big image, so
 * the small bundled list alone does not ask for it; with no list at all
 * (ctx.hashes.size === 0) only started files are hashed.
 *
 * What it reports: a digest on a list is critical; a started file that no package
 * owns gets an info finding carrying its MD5 and SHA-256, so an operator can look it up
 * elsewhere (packaged files are left out to keep the report short).
 */
import type { Check, CheckContext } from '../model/check.js';
import { isNotFound } from '../../mountfs/errors.js';
import { hashVfsFile, type FileDigests } from '../hashes/hash-file.js';
import type { HashEntry } from '../hashes/hash-list.js';

/** Where binaries that run on a schedule or at boot live. */
const SYSTEM_EXECUTABLE_GLOBS = [
  '/bin/*',
  '/sbin/*',
  '/usr/bin/*',
  '/usr/sbin/*',
  '/usr/local/bin/*',
  '/usr/local/sbin/*',
  '/etc/init.d/*',
  '/etc/cron.*/*',
];
/** World-writable places miners are dropped into, hidden subdirectories included. */
const TEMPORARY_GLOBS = ['/tmp/**', '/var/tmp/**', '/dev/shm/**'];
/** A bound on the temporary-directory walk: a /tmp with millions of files must not stall the scan. */
const MAX_WALK_ENTRIES = 2_000_000;
const EXECUTE_BITS = 0o111;

interface Target {
  /** The file itself, every symlink resolved. */
  path: string;
  /** The paths it was started as, for the package-ownership question. */
  writtenAs: Set<string>;
  startedBy: string[];
}

export const hashLookupCheck: Check = {
  id: 'hash-lookup',
  phase: 'combine',
  ruleIds: ['hash.file-too-large', 'hash.known-malware', 'hash.started-file'],
  description: 'Looks started files and system executables up in the given hash lists; inventories unpackaged started files',
  // Nothing to retain: sources read only once hash every executable as it streams past
  // (vfs.knownDigests), and keeping the bytes of every system binary would exhaust their
  // retention budget before the files the other checks read.
  paths: [],
  async run(ctx) {
    const targets = new Map<string, Target>();
    await addStartedFiles(ctx, targets);
    if (ctx.hashes.size > 0) {
      const globs = ctx.hashes.userDigests > 0 ? [...SYSTEM_EXECUTABLE_GLOBS, ...TEMPORARY_GLOBS] : TEMPORARY_GLOBS;
      await addExecutables(ctx, targets, globs);
    }
    for (const target of targets.values()) await hashAndLookUp(ctx, target);
  },
};

async function addStartedFiles(ctx: CheckContext, targets: Map<string, Target>): Promise<void> {
  for (const started of ctx.startedFiles()) {
    if (!started.path.startsWith('/')) continue;
    let real: string;
    try {
      real = await ctx.vfs.realpath(started.path);
      if ((await ctx.vfs.stat(real)).type !== 'file') continue;
    } catch (err) {
      // A persistence line naming a file that is gone is common (cleaned up, or never dropped).
      if (!isNotFound(err)) ctx.error(started.path, err);
      continue;
    }
    const target = targetFor(targets, real);
    target.writtenAs.add(started.path);
    if (!target.startedBy.includes(started.startedBy)) target.startedBy.push(started.startedBy);
  }
}

async function addExecutables(ctx: CheckContext, targets: Map<string, Target>, globs: string[]): Promise<void> {
  const walk = ctx.vfs.walk(globs, {
    maxEntries: MAX_WALK_ENTRIES,
    onError: (path, err) => ctx.error(path, err),
  });
  // Symlinks are skipped: what they point to is hashed where it lives, if it lives here.
  for await (const entry of walk) {
    if (entry.stat.type === 'file' && (entry.stat.mode & EXECUTE_BITS) !== 0) targetFor(targets, entry.path);
  }
}

function targetFor(targets: Map<string, Target>, path: string): Target {
  let target = targets.get(path);
  if (!target) {
    target = { path, writtenAs: new Set([path]), startedBy: [] };
    targets.set(path, target);
  }
  return target;
}

async function hashAndLookUp(ctx: CheckContext, target: Target): Promise<void> {
  const { path } = target;
  ctx.examined(path);
  let result;
  try {
    result = await hashVfsFile(ctx.vfs, path, { algorithms: ctx.hashes.algorithms });
  } catch (err) {
    ctx.error(path, err);
    return;
  }
  const startedBy = target.startedBy.join('; ');
  if (result.kind === 'too-large') {
    ctx.report(ctx.rules.finding('hash.file-too-large', { path, evidence: `${result.size} bytes`, vars: { size: result.size, startedBy } }));
    return;
  }
  ctx.hashed(result.size);
  const entry = ctx.hashes.lookup(result.digests, result.size);
  if (entry) {
    ctx.report(
      ctx.rules.finding('hash.known-malware', {
        path,
        evidence: `${describeDigests(result.digests, result.size)}; listed as ${entry.algorithm} ${entry.digest}${entry.name ? ` (${entry.name})` : ''}`,
        vars: {
          name: entry.name ?? unnamed(entry),
          source: entry.source,
          published: entry.reference ? `, which cites ${entry.reference}` : '',
          size: result.size,
          startedBy,
        },
      }),
    );
    return;
  }
  if (target.startedBy.length > 0 && !(await packaged(ctx, target))) {
    ctx.report(
      ctx.rules.finding('hash.started-file', {
        path,
        evidence: describeDigests(result.digests, result.size),
        vars: { size: result.size, startedBy },
      }),
    );
  }
}

/** Owned by an installed package under any spelling it was found as; without a package database nothing is. */
async function packaged(ctx: CheckContext, target: Target): Promise<boolean> {
  for (const p of target.writtenAs) if ((await ctx.facts.packages.owner(p)).kind === 'owned') return true;
  return false;
}

function describeDigests(d: FileDigests, size: number): string {
  return `md5 ${d.md5} sha256 ${d.sha256}${d.sha1 ? ` sha1 ${d.sha1}` : ''} size ${size}`;
}

function unnamed(entry: HashEntry): string {
  return `an unnamed entry (${entry.algorithm} ${entry.digest})`;
}
