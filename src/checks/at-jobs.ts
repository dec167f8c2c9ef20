/**
 * The at jobs check: commands queued with at(1) or batch(1), which atd runs once, later,
 * as the user who queued them; a one-shot re-infection that leaves no crontab line.
 *
 * Spool directories: /var/spool/cron/atjobs (Debian), /var/spool/at (RHEL) and
 * /var/spool/atjobs (SUSE). atd's job files are named `<queue><job:5 hex><minutes since
 * the epoch:8 hex>` (at.c, atd.c); `=` as queue marks a job atd is running. A job file is
 * a /bin/sh script at(1) writes: "#!/bin/sh", "# atrun uid=U gid=G", "# mail USER N",
 * umask, the submitter's environment as `VAR=value; export VAR` lines, `cd DIR || {...}`,
 * then the job itself as a here-document: `${SHELL:-/bin/sh} << 'marcinDELIMITERxxxx'`
 * ... `marcinDELIMITERxxxx`. Only the here-document is the job; in files of older at
 * versions, without the marker, the job is what follows the `cd` block.
 *
 * Every pending job is reported at low severity (an inventory: jobs are rare on servers);
 * its commands go through the shared command-line rules with scope at-job.
 */
import { readWholeText, textLines } from '../facts/vfs-lines.js';
import type { Check, CheckContext } from '../model/check.js';
import { basename } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteStartedCommands } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { listDir } from './shared/systemd-units.js';

const SPOOLS = ['/var/spool/cron/atjobs', '/var/spool/at', '/var/spool/atjobs'];
const JOB_NAME = /^([A-Za-z=])([0-9a-f]{5})([0-9a-f]{8})$/;
const MARKER = /^\$\{SHELL:-\/bin\/sh\} << '(marcinDELIMITER[0-9a-f]+)'\s*$/;
const CATEGORY = 'persistence/at';

export const atJobsCheck: Check = {
  id: 'at-jobs',
  ruleIds: ['at.pending-job', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [{ what: 'at job', globs: ['/var/spool/cron/atjobs', '/var/spool/cron/atjobs/*', '/var/spool/at', '/var/spool/at/*'] }],
  description: 'Jobs queued with at and batch in the atd spool directories',
  paths: SPOOLS.map((d) => `${d}/*`),
  async run(ctx) {
    for (const spool of SPOOLS) {
      for (const entry of await listDir(ctx, spool)) {
        const m = JOB_NAME.exec(basename(entry.path));
        if (!m || entry.type !== 'file') continue;
        await checkJob(ctx, entry.path, { queue: m[1]!, number: parseInt(m[2]!, 16), runAt: parseInt(m[3]!, 16) * 60 });
      }
    }
  },
};

interface JobName {
  queue: string;
  number: number;
  /** Seconds since the epoch. */
  runAt: number;
}

export interface ParsedJob {
  /** Who atd runs it as: "# mail USER" names the submitter, "# atrun uid=" the uid. */
  user?: string;
  uid?: number;
  /** The job's command lines, numbered as lines of the whole file. */
  lines: CommandLine[];
}

export function parseAtJob(text: string): ParsedJob {
  const physical = textLines(text).map((l) => l.text);
  const job: ParsedJob = { lines: [] };
  const uid = /^# atrun uid=(\d+)/m.exec(text.slice(0, 4096));
  if (uid) job.uid = Number(uid[1]);
  const mail = /^# mail +(\S+)/m.exec(text.slice(0, 4096));
  if (mail) job.user = mail[1];
  const start = physical.findIndex((l) => MARKER.test(l));
  if (start < 0) {
    // Older at: the job follows the `cd DIR || {` ... `}` block that ends the preamble.
    const cd = physical.findIndex((l) => /^cd .* \|\| \{\s*$/.test(l));
    const close = cd < 0 ? -1 : physical.findIndex((l, i) => i > cd && /^\}\s*$/.test(l));
    job.lines = scriptLines(physical.slice(close + 1).join('\n')).map((l) => ({ ...l, line: l.line + close + 1 }));
    return job;
  }
  const delimiter = MARKER.exec(physical[start]!)![1]!;
  let end = physical.findIndex((l, i) => i > start && l === delimiter);
  if (end < 0) end = physical.length;
  job.lines = scriptLines(physical.slice(start + 1, end).join('\n')).map((l) => ({ ...l, line: l.line + start + 1 }));
  return job;
}

async function checkJob(ctx: CheckContext, path: string, name: JobName): Promise<void> {
  let text: string;
  try {
    // atd hands the whole job to the shell; its "#" header lines say who submitted it, so none is shortened.
    const whole = await readWholeText(ctx.vfs, path);
    if (whole.unread) ctx.error(path, whole.unread);
    text = whole.text;
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  ctx.examined(path);
  const job = parseAtJob(text);
  const user = job.user ?? (job.uid !== undefined ? `uid ${job.uid}` : 'its submitter');
  const when = new Date(name.runAt * 1000).toISOString().replace('.000Z', 'Z');
  const state = name.queue === '=' ? 'running now' : `queue ${name.queue}, due ${when}`;
  const context = ` (at job ${name.number} of ${user}, ${state})`;
  const vars = { job: name.number, user, when, queue: name.queue, context };
  const fix = (started: string[]) => jobFix(ctx, path, name.number, started);
  const file: CommandFile = { scope: 'at-job', path, category: CATEGORY, vars, fix: (_line, started) => fix(started) };
  const startedByLine = await scanCommandLines(ctx, file, job.lines);

  const commands = job.lines.filter((l) => l.run);
  ctx.report(
    ctx.rules.finding('at.pending-job', {
      path,
      line: commands[0]?.line,
      evidence: commands.length > 0 ? commands.map((l) => l.evidence).join('; ') : '(no commands)',
      category: CATEGORY,
      vars: { ...vars, fix: await fix([...new Set([...startedByLine.values()].flat())]) },
    }),
  );
}

async function jobFix(ctx: CheckContext, path: string, number: number, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  commands.push(`atrm ${number}   # or, with atd stopped: rm -f ${shellQuote(path)}`);
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
