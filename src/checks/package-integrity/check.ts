/**
 * Installed packages verified offline, as `debsums -c` / `dpkg --verify`, `rpm -V` and `apk audit`
 * would on the running system: every program in the command directories, every shared
 * library directly in a library directory, every PAM module and every library
 * /etc/ld.so.preload names (src/checks/package-integrity/scope.ts) is hashed in the algorithm
 * its package database recorded and compared. A rootkit that replaced ps or
 * pam_unix.so keeps the name and the package's ownership, not its bytes.
 *
 * Configuration files are skipped (admins change them); diverted files are compared at
 * the path the diversion moved them to. Files no package owns are reported in the
 * command directories only, and not at all when the root has no usable package
 * database. Severities and texts are data (src/rules/builtin/package-integrity.yaml).
 *
 * dpkg info files of a package the status file does not know are reported, and their
 * records are not trusted (src/facts/dpkg-db.ts), so they cannot hide a planted file.
 *
 * The hijacked-commands check reports ps.original-style moved copies and non-ELF files
 * named like compiled commands: the unowned findings on those yield to its (the rules
 * say so, the engine applies it), and a changed command with a moved copy beside it
 * says so in its finding.
 */
import { createHash } from 'node:crypto';
import type { Check, CheckContext } from '../../model/check.js';
import type { Finding } from '../../model/finding.js';
import { basename, dirname, joinPath } from '../../../mountfs/path.js';
import { isNotFound } from '../../../mountfs/errors.js';
import { LIBRARY_PATH_CONFIG, PRELOAD, parsePreload, resolvePreloadEntry } from '../../facts/ld-so.js';
import { packageTools } from './remediation.js';
import { shellQuote } from '../../rules/ruleset.js';
import { dpkgDatabaseOf } from '../../facts/package-databases.js';
import { PAM_GLOBS, SCOPE_GLOBS, placeOf } from './scope.js';
import { Canonicalizer, scopeRecords, type Expected } from './records.js';
import { IntegrityVerifier, VERIFY_RULE_IDS } from './verify.js';
import { judgeUnowned, UNOWNED_RULE_IDS } from './unowned.js';

const MISSING_RULE = 'integrity.package-file-missing';
const UNREGISTERED_RULE = 'integrity.unregistered-package-files';
const MOVED_RULE = 'hijacked-command.moved-original';
/** The scope holds a few thousand entries; a tree a hundred times that is not a system. */
const MAX_WALK_ENTRIES = 500_000;
const MAX_PRELOAD_ENTRIES = 64;

export const packageIntegrityCheck: Check = {
  id: 'package-integrity',
  ruleIds: [MISSING_RULE, UNREGISTERED_RULE, MOVED_RULE, ...VERIFY_RULE_IDS, ...UNOWNED_RULE_IDS],
  description: "Installed programs, libraries and PAM modules compared with their package database's digests; files no package owns in the command directories",
  // Programs carry digests from single-pass sources already; PAM modules and the preload list are read.
  paths: [...PAM_GLOBS, PRELOAD, ...LIBRARY_PATH_CONFIG],
  async run(ctx) {
    const databases = await ctx.facts.packageDatabases();
    if (databases.length === 0) return;
    const canon = new Canonicalizer(ctx.vfs);
    const preloaded = await preloadTargets(ctx, canon);
    const records = await scopeRecords(databases, canon, new Set(preloaded));
    const managed = new Set<string>();
    for (const path of (await ctx.facts.packageManagedPaths()).keys()) managed.add(await canon.path(path));

    const findings: Finding[] = [];
    for (const u of (await dpkgDatabaseOf(databases)?.unregisteredInfo()) ?? []) {
      const files = [...u.files].sort();
      findings.push(
        ctx.rules.finding(UNREGISTERED_RULE, {
          path: files[0]!,
          evidence: `${files.join(', ')}; no "Package: ${u.package}" in /var/lib/dpkg/status`,
          vars: { package: u.package, files: files.map(shellQuote).join(' ') },
        }),
      );
    }
    const movedCopies = new Map<string, string[]>();
    const verifier = new IntegrityVerifier(ctx, (f) => findings.push(f), movedCopies);
    const seen = new Set<string>();
    const unowned: string[] = [];
    for await (const entry of ctx.vfs.walk(SCOPE_GLOBS, { maxEntries: MAX_WALK_ENTRIES, onError: (p, e) => ctx.error(p, e) })) {
      const type = entry.stat.type;
      if (type !== 'file' && type !== 'symlink') continue;
      seen.add(entry.path);
      noteMovedCopy(ctx, entry.path, movedCopies);
      const expected = records.get(entry.path);
      if (expected) {
        if (verifiable(expected) && !(type === 'symlink' && (await linkAsRecorded(ctx, entry.path, expected)))) {
          await verifier.add(entry.path, expected, type === 'file' ? entry.stat.size : undefined);
        }
      } else if (type === 'file' && !managed.has(entry.path)) {
        const place = placeOf(entry.path);
        if (place === 'command' || place === 'local-command') unowned.push(entry.path);
      }
    }

    for (const [path, expected] of records) {
      if (seen.has(path) || !verifiable(expected)) continue;
      await missingOrOther(ctx, path, expected, verifier, (f) => findings.push(f));
    }
    for (const target of preloaded) {
      const expected = records.get(target);
      if (expected && verifiable(expected) && !seen.has(target)) await verifier.add(target, expected);
    }
    await verifier.done();

    // With no package owning anything in the command directories the database is not usable to say "unowned".
    if ([...records.keys()].some((p) => placeOf(p) === 'command')) {
      for (const path of unowned.sort()) {
        const finding = await judgeUnowned(ctx, path);
        if (finding) findings.push(finding);
      }
    }
    findings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
    for (const f of findings) ctx.report(f);
  },
};

/** A packaged symlink whose target text has the digest its database recorded (apk sums links so). */
async function linkAsRecorded(ctx: CheckContext, path: string, expected: Expected): Promise<boolean> {
  if (!expected.linkDigest) return false;
  let target: string;
  try {
    target = await ctx.vfs.readlink(path);
  } catch {
    return false;
  }
  return expected.digests.some((d) => d.algorithm in LINK_HASHES && createHash(d.algorithm).update(target).digest('hex') === d.digest);
}

const LINK_HASHES = { md5: 1, sha1: 1, sha256: 1 };

function verifiable(expected: Expected): boolean {
  return expected.digests.length > 0 && !expected.config;
}

/** A packaged file the walk did not meet: missing, or of a type the walk skips. */
async function missingOrOther(
  ctx: CheckContext,
  path: string,
  expected: Expected,
  verifier: IntegrityVerifier,
  report: (f: Finding) => void,
): Promise<void> {
  try {
    const st = await ctx.vfs.lstat(path);
    if (st.type === 'file' || st.type === 'symlink') await verifier.add(path, expected);
    return;
  } catch (err) {
    if (!isNotFound(err)) {
      ctx.error(path, err);
      return;
    }
  }
  const tools = await packageTools(ctx, expected.database, expected.packages);
  report(
    ctx.rules.finding(MISSING_RULE, {
      path,
      evidence: `${expected.database.location}: ${expected.digests.map((d) => `${d.package} ${d.algorithm} ${d.digest}`).join(', ')}`,
      vars: { package: expected.packages.join(', '), database: expected.database.location, ...tools },
    }),
  );
}

/** Records ps.original-style copies by the command they were moved from (the rule's first group). */
function noteMovedCopy(ctx: CheckContext, path: string, moved: Map<string, string[]>): void {
  const name = basename(path);
  for (const rule of ctx.rules.matchName('command', name)) {
    if (rule.id !== MOVED_RULE || rule.match.kind !== 'name') continue;
    const from = rule.match.regex?.exec(name)?.[1] ?? name.replace(/\.[^.]*$/, '');
    const command = joinPath(dirname(path), from);
    moved.set(command, [...(moved.get(command) ?? []), path]);
  }
}

/** The libraries /etc/ld.so.preload loads, as they are on this root. */
async function preloadTargets(ctx: CheckContext, canon: Canonicalizer): Promise<string[]> {
  // Whole, as glibc reads it: an entry after padding is still a library it loads.
  const text = await ctx.facts.preloadFile();
  if (text === undefined) return [];
  const entries = parsePreload(text).slice(0, MAX_PRELOAD_ENTRIES);
  if (entries.length === 0) return [];
  const dirs = await ctx.facts.librarySearchDirs();
  const out: string[] = [];
  for (const entry of entries) {
    const found = await resolvePreloadEntry(ctx.vfs, entry.name, dirs);
    if (!found) continue;
    try {
      out.push(await canon.path(await ctx.vfs.realpath(found)));
    } catch {
      // Resolved a moment ago; a link that vanished is the preload check's to report.
    }
  }
  return out;
}
