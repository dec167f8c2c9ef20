/**
 * The shell start-up files check: what every login or interactive shell runs before the
 * user types anything, which miners use both to restart themselves and to hide (an
 * `alias ps=...| grep -v`, a `function ps {...}` hook, an LD_PRELOAD export).
 *
 * Files, as bash(1) INVOCATION and zsh(1) STARTUP/SHUTDOWN FILES list them: /etc/profile,
 * /etc/profile.d/*, /etc/bash.bashrc (Debian), /etc/bashrc (RHEL), /etc/bash.bash_logout,
 * /etc/zsh/* and /etc/z{shenv,profile,shrc,login,logout}; in /root, every home of
 * /etc/passwd and /etc/skel (copied into new homes): .bashrc, .profile, .bash_profile,
 * .bash_login, .bash_logout, .bash_aliases, .zshrc, .zprofile, .zshenv, .zlogin, .zlogout.
 * Not shell but read into every PAM session (pam_env.conf(5)): /etc/environment
 * (KEY=VALUE) and /etc/security/pam_env.conf (VAR DEFAULT=/OVERRIDE=); their lines are
 * matched, never run.
 *
 * Lines are scanned with scope shell-startup. A function definition is matched as one
 * line (header and body), reported at its first line. A file that a start-up file
 * sources (`. FILE`, `source FILE`) with an absolute path is read as a start-up file too;
 * sourcing a file inside the account's own home is configuration, not a program start,
 * so it is not judged as one (its content is).
 */
import type { Check, CheckContext } from '../model/check.js';
import { basename, dirname, joinPath } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteStartedCommands, showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { PAM_ENV_FILES, SHELL_HOME_FILES, SHELL_STARTUP_PATHS, SHELL_SYSTEM_DIRS, SHELL_SYSTEM_FILES, SKEL } from './shared/whole-file-places.js';
import { readWholeText, activeLines } from '../facts/vfs-lines.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { shellLineStarts, shellVarsFor } from './parsers/shell-commands.js';
import { listDir } from './shared/systemd-units.js';

/** Sourced files followed in all, and from one file: hostile start-up files may source thousands. */
const MAX_FILES = 2000;
const MAX_SOURCED_PER_FILE = 32;
/** A function body longer than this is matched line by line only. */
const MAX_FUNCTION_LINES = 200;
const CATEGORY = 'persistence/shell-startup';

export const shellStartupCheck: Check = {
  id: 'shell-startup',
  ruleIds: [...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  // Every home's files follow from the accounts and are not walked: root's and the skeleton's are.
  watched: [
    {
      what: 'shell start-up file',
      globs: [
        ...SHELL_SYSTEM_FILES,
        ...PAM_ENV_FILES,
        ...SHELL_SYSTEM_DIRS.flatMap((d) => [d, `${d}/*`]),
        ...SHELL_HOME_FILES.flatMap((f) => [`${SKEL}/${f}`, `/root/${f}`]),
      ],
    },
  ],
  description: 'Shell start-up files (profile, bashrc, zshrc and friends, system-wide and per account) and PAM environment files',
  paths: SHELL_STARTUP_PATHS,
  async run(ctx) {
    const homes = await ctx.facts.loginHomes();
    const queue: StartupFile[] = [];
    for (const path of SHELL_SYSTEM_FILES) queue.push({ path, kind: 'shell', context: systemContext(path) });
    for (const dir of SHELL_SYSTEM_DIRS) {
      for (const e of await listDir(ctx, dir)) if (e.type !== 'directory') queue.push({ path: e.path, kind: 'shell', context: systemContext(e.path) });
    }
    for (const path of PAM_ENV_FILES) queue.push({ path, kind: 'env', context: ' (environment of every PAM session: logins, su, sudo, cron)' });
    for (const f of SHELL_HOME_FILES) queue.push({ path: joinPath(SKEL, f), kind: 'shell', context: ' (copied into the home of every new account)' });
    for (const home of homes) {
      const who = home.users.map((u) => u.name).join('/') || home.path;
      for (const f of SHELL_HOME_FILES) queue.push({ path: joinPath(home.path, f), kind: 'shell', context: ` (start-up file of ${who}, run by ${who}'s shells)`, home: home.path });
    }
    const seen = new Set<string>();
    for (let i = 0; i < queue.length && seen.size < MAX_FILES; i++) {
      const sourced = await scanStartupFile(ctx, queue[i]!, seen);
      queue.push(...sourced);
    }
  },
};

interface StartupFile {
  path: string;
  kind: 'shell' | 'env';
  context: string;
  /** The home it belongs to, for a per-account file. */
  home?: string;
}

function systemContext(path: string): string {
  if (path.startsWith('/etc/profile')) return ' (read by every login shell)';
  if (path.includes('logout')) return ' (run when every login shell exits)';
  if (path.includes('bash')) return ' (read by every interactive bash)';
  return ' (read by every zsh)';
}

async function scanStartupFile(ctx: CheckContext, start: StartupFile, seen: Set<string>): Promise<StartupFile[]> {
  let real: string;
  let text: string;
  try {
    real = await ctx.vfs.realpath(start.path);
    if ((await ctx.vfs.stat(real)).type !== 'file' || seen.has(real)) return [];
    seen.add(real);
    // The shell reads the whole file, so minescan does too (comment lines kept short).
    const whole = await readWholeText(ctx.vfs, real, { commentChars: '#' });
    if (whole.unread) ctx.error(real, whole.unread);
    text = whole.text;
  } catch (err) {
    // Most accounts have only some of these files.
    if (!isNotFound(err)) ctx.error(start.path, err);
    return [];
  }
  ctx.examined(real);
  const lines = start.kind === 'env' ? envLines(text) : scriptLines(text);
  const functionEnds = joinFunctions(lines);
  const sourced = start.kind === 'shell' ? sourcedFiles(lines, start) : [];
  const file: CommandFile = {
    scope: 'shell-startup',
    path: real,
    category: CATEGORY,
    vars: { context: start.context },
    fix: (line, started) => startupFix(ctx, real, line, functionEnds.get(line.line), started),
  };
  await scanCommandLines(ctx, file, lines, shellVarsFor(start.home));
  return sourced;
}

/** /etc/environment and pam_env.conf: one assignment per line, `#` comments. */
function envLines(text: string): CommandLine[] {
  return activeLines(text).map(({ text: raw, line }) => ({ line, text: raw.trim(), evidence: raw.trim() }));
}

const FUNCTION_HEADER = /^\s*(?:function\s+[^\s(){}|;&<>]+(?:\s*\(\s*\))?|[^\s(){}|;&<>=]+\s*\(\s*\))\s*\{?\s*$/;

/**
 * Folds each multi-line function definition into its first line, so a rule sees the
 * name and the body together; returns first line -> last line of every fold.
 */
export function joinFunctions(lines: CommandLine[]): Map<number, number> {
  const ends = new Map<number, number>();
  for (let i = 0; i < lines.length; i++) {
    const header = lines[i]!;
    if (!FUNCTION_HEADER.test(header.text)) continue;
    let j = i + 1;
    while (j < lines.length && j - i <= MAX_FUNCTION_LINES && !/^\s*\}/.test(lines[j]!.text)) j++;
    if (j >= lines.length || j - i > MAX_FUNCTION_LINES) continue;
    const body = lines.slice(i + 1, j + 1);
    const joined = [header.text.trim(), ...body.map((l) => l.text.trim())].join(' ').replace(/\{ /, '{ ');
    header.text = joined;
    header.evidence = [header.evidence, ...body.map((l) => l.evidence)].join('; ').replace(/\{; /, '{ ').replace(/; \}/, ' }');
    for (const l of body) l.text = '';
    ends.set(header.line, lines[j]!.line);
    i = j;
  }
  return ends;
}

/**
 * Files the lines source with an absolute path. A line that only sources files in the
 * account's own home loses its `run`: those are its owner's configuration, read in turn.
 */
function sourcedFiles(lines: CommandLine[], from: StartupFile): StartupFile[] {
  const out: StartupFile[] = [];
  const vars = shellVarsFor(from.home);
  for (const l of lines) {
    if (!l.run || out.length >= MAX_SOURCED_PER_FILE) continue;
    const starts = shellLineStarts(l.run.command, vars);
    const sourced = starts.filter((p) => p.sourced).map((p) => p.path);
    for (const path of sourced) out.push({ path, kind: 'shell', context: ` (sourced by ${from.path}:${l.line}${from.context})`, home: from.home });
    const inOwnHome = (p: string) => from.home !== undefined && from.home !== '/' && p.startsWith(`${from.home}/`);
    if (starts.length > 0 && sourced.length === starts.length && sourced.every(inOwnHome)) delete l.run;
  }
  return out;
}

async function startupFix(ctx: CheckContext, path: string, line: CommandLine, end: number | undefined, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  const owner = await ctx.facts.packages.owner(path);
  if (dirname(path) === '/etc/profile.d' && owner.kind === 'unowned') {
    commands.push(`rm -f ${shellQuote(path)}   # no package installed ${basename(path)}`);
  } else {
    const range = end !== undefined ? `${line.line},${end}` : `${line.line}`;
    const what = end !== undefined ? `lines ${range}` : `line ${line.line}`;
    commands.push(`sed -i '${range}d' ${shellQuote(path)}   # deletes ${what}: ${showLine(line.evidence)}`);
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
