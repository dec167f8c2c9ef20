/**
 * The udev rules check: programs udevd starts, as root, on device events (every boot
 * replays them), a persistence place that leaves no unit, cron line or init script.
 *
 * Follows udev(7): rules files `*.rules` in /etc/udev/rules.d, /run/udev/rules.d,
 * /usr/local/lib/udev/rules.d, /usr/lib/udev/rules.d and /lib/udev/rules.d (a file in
 * /etc or /run overrides the same name further down, which is then not read; a link to
 * /dev/null masks it).
 * A rule is one line (`\` continues it, `#` starts a comment line) of comma-separated
 * `KEY{attr}OP"value"` pairs. `RUN+=`/`RUN:=`/`RUN=` and `RUN{program}` values,
 * `PROGRAM` values and `IMPORT{program}` values are commands udev starts without a shell
 * (splitting at spaces, honouring quotes); a program named without a `/` is looked up in
 * /lib/udev. `RUN{builtin}` and `IMPORT{file,db,cmdline,parent,builtin}` start nothing.
 *
 * Lines are scanned with scope udev-rule (the shared command-line rules and udev-rules.yaml);
 * every program is recorded as started; a rule in an unpackaged file under /etc or /run
 * that starts a program is reported at low severity, an inventory of local device hooks.
 */
import { readWholeText, continuedLines } from '../facts/vfs-lines.js';
import type { Ownership } from '../facts/package-ownership.js';
import type { Check, CheckContext } from '../model/check.js';
import { isNotFound } from '../../mountfs/errors.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteLineCommand, deleteStartedCommands } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { listDir } from './shared/systemd-units.js';

const RULE_DIRS = ['/etc/udev/rules.d', '/run/udev/rules.d', '/usr/local/lib/udev/rules.d', '/usr/lib/udev/rules.d', '/lib/udev/rules.d'];
const LOCAL_DIRS = ['/etc/udev/rules.d', '/run/udev/rules.d'];
const MAX_CONTINUED_LINES = 1000;
/** Inventory findings per rules file: a file of thousands of RUN lines needs reading, not thousands of findings. */
const MAX_INVENTORY_LINES = 50;
const CATEGORY = 'persistence/udev';
/** RUN{program}, PROGRAM, IMPORT{program} and their values (quotes, `\"` escapes). */
const PROGRAM_KEY = /\b(RUN|PROGRAM|IMPORT)(?:\{([A-Za-z_]+)\})?\s*(\+=|:=|==|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

export const udevRulesCheck: Check = {
  id: 'udev-rules',
  ruleIds: ['udev.unpackaged-run', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [{ what: 'udev rule', globs: ['/etc/udev/rules.d', '/etc/udev/rules.d/*'] }],
  description: 'udev rules that run programs on device events (RUN, PROGRAM, IMPORT{program})',
  paths: RULE_DIRS.map((d) => `${d}/*.rules`),
  async run(ctx) {
    const seen = new Set<string>();
    // udev reads one file per name: the first in directory order; a /dev/null link masks the name.
    const names = new Set<string>();
    for (const dir of RULE_DIRS) {
      for (const entry of await listDir(ctx, dir)) {
        const name = entry.path.slice(dir.length + 1);
        if (!name.endsWith('.rules') || entry.type === 'directory' || names.has(name)) continue;
        names.add(name);
        await scanRulesFile(ctx, entry.path, LOCAL_DIRS.includes(dir), seen);
      }
    }
  },
};

async function scanRulesFile(ctx: CheckContext, path: string, local: boolean, seen: Set<string>): Promise<void> {
  let real: string;
  let text: string;
  try {
    if ((await ctx.vfs.lstat(path)).type === 'symlink' && (await ctx.vfs.readlink(path)) === '/dev/null') return;
    real = await ctx.vfs.realpath(path);
    if ((await ctx.vfs.stat(real)).type !== 'file' || seen.has(real)) return;
    seen.add(real);
    // udev reads every line of a rules file, so minescan does too (comment lines kept short).
    const whole = await readWholeText(ctx.vfs, real, { commentChars: '#' });
    if (whole.unread) ctx.error(real, whole.unread);
    text = whole.text;
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  ctx.examined(real);
  const owner = await ctx.facts.packages.owner(real);
  const context = ` (udev rule${owner.kind === 'owned' ? ` of package ${owner.package}` : ''}, run as root on device events)`;
  const lines = udevLines(text);
  const file: CommandFile = {
    scope: 'udev-rule',
    path: real,
    category: CATEGORY,
    vars: { context },
    fix: (line, started) => udevFix(ctx, real, owner, line, started),
  };
  const startedByLine = await scanCommandLines(ctx, file, lines);
  if (!local || owner.kind === 'owned') return;
  for (const line of lines.filter((l) => l.run).slice(0, MAX_INVENTORY_LINES)) {
    if (!line.run) continue;
    const started = startedByLine.get(line.line) ?? [];
    ctx.report(
      ctx.rules.finding('udev.unpackaged-run', {
        path: real,
        line: line.line,
        evidence: line.evidence,
        category: CATEGORY,
        vars: { context, name: started.join(', ') || line.run.command, fix: await udevFix(ctx, real, owner, line, started) },
      }),
    );
  }
}

/** Logical rule lines; `run` holds every program the line starts, `;`-separated in Exec syntax. */
export function udevLines(text: string): CommandLine[] {
  const out: CommandLine[] = [];
  // At most MAX_CONTINUED_LINES physical lines make one logical line.
  for (const continued of continuedLines(text, MAX_CONTINUED_LINES - 1, '')) {
    const logical = continued.text.trim();
    if (logical === '' || logical.startsWith('#')) continue;
    const line: CommandLine = { line: continued.line, text: logical, evidence: logical };
    const programs = udevPrograms(logical);
    if (programs.length > 0) line.run = { syntax: 'exec', command: programs.join(' ; ') };
    out.push(line);
  }
  return out;
}

/** The command values of a rule line, with bare program names placed in /lib/udev. */
export function udevPrograms(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(PROGRAM_KEY)) {
    const [, key, attr, op, raw] = m;
    // PROGRAM is a match key (==, !=) that runs its value; RUN only assigns.
    if (key !== 'PROGRAM' && (op === '==' || op === '!=')) continue;
    if (key === 'RUN' && attr !== undefined && attr !== 'program') continue;
    if (key === 'IMPORT' && attr !== 'program') continue;
    const value = raw!.replace(/\\(["\\])/g, '$1').trim();
    if (value === '') continue;
    // A lone ";" would split the command in Exec syntax; udev passes it as an argument.
    const safe = value.replace(/(^|\s);(?=\s|$)/g, '$1\\;');
    out.push(/^[^\s/]/.test(safe) ? `/lib/udev/${safe}` : safe);
  }
  return out;
}

async function udevFix(ctx: CheckContext, path: string, owner: Ownership, line: CommandLine, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  if (owner.kind === 'owned') commands.push((await ctx.facts.packageCommands()).restore(owner, path));
  else commands.push(deleteLineCommand(path, line));
  commands.push('udevadm control --reload-rules');
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
