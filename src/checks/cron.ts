/**
 * The cron check: every place cron and anacron read jobs from, parsed as crontab(5)
 * and anacrontab(5) say, then scanned with the shared command-line rules
 * (shared/command-scan.ts) and the cron and family packs.
 *
 * - /etc/crontab and /etc/cron.d/*: "m h dom mon dow USER command" or "@reboot USER command".
 * - /var/spool/cron/<user> (RHEL), /var/spool/cron/crontabs/<user> (Debian),
 *   /var/spool/cron/tabs/<user> (SUSE): the same without the user field; the user is the
 *   file name.
 * - /etc/anacrontab: "period delay job-id command".
 * - /etc/cron.{hourly,daily,weekly,monthly}/*: scripts run-parts runs; read as shell.
 *
 * Environment lines are matched but run nothing; comment lines are skipped entirely (cron
 * never runs them). Each program a job starts is recorded with ctx.started() for the hash
 * check. Remediation deletes the line with sed for system files, goes through
 * `crontab -u USER` for spool files, and removes (or reinstalls) a cron script, with
 * `chattr -ia` first when the file is locked.
 */
import type { Check, CheckContext } from '../model/check.js';
import { TEXT_PROBE_BYTES } from './shared/file-head.js';
import { readScriptOnce } from './shared/read-script.js';
import { basename, dirname } from '../../mountfs/path.js';
import { isNotFound, limitExceeded } from '../../mountfs/errors.js';
import type { Stat } from '../../mountfs/vfs.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteLineCommand, deleteStartedCommands, showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { shellVarsFor } from './parsers/shell-commands.js';
import { runnerHome } from './shared/runner-home.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { crontabLines } from './shared/crontab-lines.js';
import { ANACRONTAB, CRON_GLOBS, CRON_SCRIPT_DIRS } from './shared/whole-file-places.js';
import { readWholeText, type WholeText } from '../facts/vfs-lines.js';

const CATEGORY = 'persistence/cron';
const CRON_SPOOL_DIRS = ['/var/spool/cron', '/var/spool/cron/crontabs', '/var/spool/cron/tabs'];

type CronFileKind = 'system' | 'user' | 'anacron' | 'script';

export const cronCheck: Check = {
  id: 'cron',
  ruleIds: ['cron.binary-job', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [
    {
      what: 'cron configuration',
      globs: ['/etc/crontab', '/etc/anacrontab', '/etc/cron.allow', '/etc/cron.deny', '/etc/cron.d', '/etc/cron.d/*', ...CRON_SCRIPT_DIRS, ...CRON_SCRIPT_DIRS.map((d) => `${d}/*`), ...CRON_SPOOL_DIRS, ...CRON_SPOOL_DIRS.map((d) => `${d}/*`)],
    },
  ],
  description: 'Scheduled tasks: /etc/crontab, cron.d, anacrontab, cron.{hourly,daily,weekly,monthly} scripts and per-user crontabs',
  paths: CRON_GLOBS,
  async run(ctx) {
    const links = new Map<string, LinkedFile>();
    const walk = ctx.vfs.walk(CRON_GLOBS, { maxDirEntries: MAX_DIR_ENTRIES, onError: (p, e) => ctx.error(p, e) });
    for await (const entry of walk) {
      if (entry.stat.type === 'directory') continue;
      await scanLinkedFile(ctx, entry.path, links);
    }
    for (const file of links.values()) {
      if (file.unreported > 0) {
        ctx.error(file.first, limitExceeded('cron check', `${file.unreported} more hard links to ${file.first} (the same file, with findings) not reported one by one`));
      }
    }
  },
};

/**
 * cron reads every file of cron.d, but a directory of more than this many jobs is an
 * attack on the scanner; the rest is reported as not read.
 */
const MAX_DIR_ENTRIES = 10_000;
/** Names of one file with findings reported each with its own remediation; further hard links are counted. */
const MAX_LINK_REPORTS = 16;

/** One file (inode) of the cron places, however many names (hard links, symlinks) it has. */
interface LinkedFile {
  first: string;
  scans: number;
  findings: number;
  unreported: number;
}

/**
 * Reads each distinct file once: a million hard links to one crontab are one read.
 * A file with findings is reported under its first few names, since each name is a
 * job of its own that its remediation must remove.
 */
async function scanLinkedFile(ctx: CheckContext, path: string, links: Map<string, LinkedFile>): Promise<void> {
  let stat: Stat;
  try {
    stat = await ctx.vfs.stat(path);
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  const kind = kindOf(path);
  // The same file means the same jobs only when read the same way (a user crontab's owner is its name).
  const key = `${stat.id}\0${kind}\0${kind === 'user' ? basename(path) : ''}`;
  const known = links.get(key);
  if (known && (known.findings === 0 || known.scans >= MAX_LINK_REPORTS)) {
    ctx.examined(path);
    if (known.findings > 0) known.unreported++;
    return;
  }
  const file = known ?? { first: path, scans: 0, findings: 0, unreported: 0 };
  if (!known) links.set(key, file);
  file.scans++;
  await scanCronFile({ ...ctx, report: (f) => (file.findings++, ctx.report(f)) }, path);
}

function kindOf(path: string): CronFileKind {
  if (path === ANACRONTAB) return 'anacron';
  if (path === '/etc/crontab' || dirname(path) === '/etc/cron.d') return 'system';
  if (CRON_SCRIPT_DIRS.includes(dirname(path))) return 'script';
  return 'user';
}

async function scanCronFile(ctx: CheckContext, path: string): Promise<void> {
  let whole: Pick<WholeText, 'text' | 'unread'>;
  try {
    // Symlinked jobs count as what they point to; sockets, devices and dangling links are not jobs.
    const stat = await ctx.vfs.stat(path);
    if (stat.type !== 'file') return;
    // cron and run-parts read the whole file: so does minescan, comments kept short. A
    // script's first bytes, in the same read, tell a binary run-parts starts as it is.
    if (kindOf(path) !== 'script') {
      whole = await readWholeText(ctx.vfs, path, { commentChars: '#' });
    } else {
      const script = await readScriptOnce(ctx.vfs, path, stat.size, TEXT_PROBE_BYTES);
      if (script.kind === 'binary') {
        ctx.examined(path);
        // run-parts starts the file itself, whatever it is: the hash check should see it.
        ctx.started({ path, startedBy: `run-parts ${dirname(path)}` });
        await reportBinaryJob(ctx, path, stat.size);
        return;
      }
      whole = script;
    }
  } catch (err) {
    // A dangling link in cron.d runs nothing; anything else is a read problem worth reporting.
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  ctx.examined(path);
  if (whole.unread) ctx.error(path, whole.unread);
  const kind = kindOf(path);
  if (kind === 'script') ctx.started({ path, startedBy: `run-parts ${dirname(path)}` });
  const file: CommandFile = {
    scope: 'cron',
    path,
    category: CATEGORY,
    vars: { context: kind === 'script' ? ` (run-parts runs it ${period(path)} as root)` : '' },
    fix: (line, started) => fixFor(ctx, path, kind, line, started),
  };
  const lines = kind === 'script' ? scriptLines(whole.text) : crontabLines(whole.text, kind, kind === 'user' ? basename(path) : undefined);
  await scanCommandLines(ctx, file, lines, shellVarsFor(await runnerHome(ctx, path)));
}

function period(path: string): string {
  return basename(dirname(path)).replace(/^cron\./, '');
}

async function fixFor(ctx: CheckContext, path: string, kind: CronFileKind, line: CommandLine, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  if (kind === 'user') {
    const user = basename(path);
    commands.push(`crontab -u ${shellQuote(user)} -e   # delete line ${line.line}: ${showLine(line.evidence)}`);
    commands.push(`# or drop every job of ${user}: crontab -u ${shellQuote(user)} -r   (removes ${path})`);
  } else if (kind === 'script') {
    commands.push(...(await removeScriptCommands(ctx, path, line)));
  } else {
    commands.push(deleteLineCommand(path, line));
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}

/** A packaged cron script is restored by its package; an unpackaged one is the attacker's. */
async function removeScriptCommands(ctx: CheckContext, path: string, line: CommandLine | undefined): Promise<string[]> {
  const owner = await ctx.facts.packages.owner(path);
  if (owner.kind === 'owned') return [(await ctx.facts.packageCommands()).restore(owner, path, 'script')];
  // Without a package database the script may be a distribution's: delete the line only.
  if (owner.kind === 'unknown' && line) return [deleteLineCommand(path, line)];
  return [`rm -f ${shellQuote(path)}   # no package owns this cron script`];
}

async function reportBinaryJob(ctx: CheckContext, path: string, size: number): Promise<void> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  commands.push(...(await removeScriptCommands(ctx, path, undefined)));
  ctx.report(
    ctx.rules.finding('cron.binary-job', {
      path,
      evidence: `executable binary, ${size} bytes`,
      category: CATEGORY,
      vars: { context: ` (${period(path)}, as root)`, fix: commands.join('\n') },
    }),
  );
}

