/**
 * The lines of a crontab as crontab(5) and anacrontab(5) read them: "m h dom mon dow
 * USER command" in /etc/crontab and cron.d, the same without USER in a user's spool
 * file, "period delay job-id command" in anacrontab. The cron check reads crontabs with
 * it, and the cloud-init check reads a write_files entry that becomes one.
 */
import { activeLines } from '../../facts/vfs-lines.js';
import type { CommandLine } from './command-scan.js';
import { stripShellComment } from '../parsers/shell-commands.js';

/**
 * The lines of a crontab. Job lines run their command (cut at the first unescaped `%`,
 * which cron turns into the command's standard input); environment lines and lines cron
 * would reject are still matched, since an attacker's line need not be well-formed to
 * matter to an analyst.
 */
export function crontabLines(text: string, kind: 'system' | 'user' | 'anacron', owner?: string): CommandLine[] {
  const out: CommandLine[] = [];
  for (const { text: raw, line: n } of activeLines(text)) {
    const trimmed = raw.trim();
    const line: CommandLine = { line: n, text: raw, evidence: trimmed };
    const env = /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(trimmed);
    const job = env ? undefined : parseJob(trimmed, kind);
    if (env) line.vars = { context: ' (crontab environment line)' };
    if (job) {
      const command = cronCommand(job.command);
      line.text = `${trimmed.slice(0, trimmed.length - job.command.length)}${stripShellComment(job.command)}`;
      line.run = { syntax: 'shell', command };
      line.vars = { context: jobContext(kind, job, owner) };
    }
    out.push(line);
  }
  return out;
}

interface CronJob {
  schedule: string;
  user?: string;
  command: string;
}

const TIME_FIELD = String.raw`-?[0-9A-Za-z*,/\-~]+`;
const SPECIAL = String.raw`@(?:reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)`;
const JOB_PATTERNS = {
  system: new RegExp(String.raw`^(?<schedule>${SPECIAL}|(?:${TIME_FIELD}\s+){4}${TIME_FIELD})\s+(?<user>\S+)\s+(?<command>\S.*)$`),
  user: new RegExp(String.raw`^(?<schedule>${SPECIAL}|(?:${TIME_FIELD}\s+){4}${TIME_FIELD})\s+(?<command>\S.*)$`),
  anacron: new RegExp(String.raw`^(?<schedule>(?:@\w+|\d+)\s+\d+)\s+(?<id>\S+)\s+(?<command>\S.*)$`),
};

function parseJob(line: string, kind: 'system' | 'user' | 'anacron'): CronJob | undefined {
  const m = JOB_PATTERNS[kind].exec(line);
  if (!m?.groups) return undefined;
  return { schedule: m.groups.schedule!.replace(/\s+/g, ' '), user: m.groups.user, command: m.groups.command! };
}

/** Cron hands the command to /bin/sh up to the first unescaped `%`; `\%` is a literal percent. */
function cronCommand(command: string): string {
  const cut = /(?<!\\)%/.exec(command);
  return (cut ? command.slice(0, cut.index) : command).replace(/\\%/g, '%');
}

function jobContext(kind: 'system' | 'user' | 'anacron', job: CronJob, owner: string | undefined): string {
  if (kind === 'anacron') return ` (anacron job, period and delay "${job.schedule}", run as root)`;
  if (kind === 'system') return ` (cron job run as ${job.user}, schedule "${job.schedule}")`;
  return ` (crontab of ${owner ?? 'its owner'}, schedule "${job.schedule}")`;
}
