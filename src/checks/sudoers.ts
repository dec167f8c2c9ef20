/**
 * The sudoers check: who may become root through sudo, read as sudoers(5) describes.
 *
 * /etc/sudoers is read with its includes: `#include FILE` / `@include FILE` (relative to
 * the including file's directory) and `#includedir DIR` / `@includedir DIR` (every file
 * of DIR whose name neither ends in "~" nor contains "."), each file once, to a bounded
 * depth. Lines continue with a trailing backslash; `#` starts a comment unless it starts
 * an include or a numeric uid ("#1000"). User_Alias and Cmnd_Alias are expanded.
 *
 * Each user specification ("USERS HOSTS = [(RUNAS)] [TAGS:] COMMANDS") is judged once,
 * most severe first: ALL commands without a password (high; low for cloud-init's file
 * when every user is a regular account), ALL commands for an account that is no
 * administrator's (system uid, no login shell, no home, unknown name, or everyone:
 * high), anything granted by a file no package owns (medium), else an info inventory
 * line (root's own line excepted). Content rules of scope `sudoers` see every line.
 */
import type { Check, CheckContext } from '../model/check.js';
import type { Ownership } from '../facts/package-ownership.js';
import type { PasswdEntry } from '../facts/passwd.js';
import { basename, dirname, joinPath, normalizePath } from '../../mountfs/path.js';
import type { Rule } from '../rules/types.js';
import { shellQuote } from '../rules/ruleset.js';
import { showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { continuedLines } from '../facts/vfs-lines.js';
import { globFiles, packageOwner, readIncludedConfig } from './shared/config-files.js';

const SUDOERS = '/etc/sudoers';
const CATEGORY = 'persistence/sudoers';
/** sudo stops at 128 nested includes; real configurations use one or two. */
const MAX_INCLUDE_DEPTH = 8;
/** A drop-in sudo skips (sudoers(5): a name with a "." or ending in "~"). */
const SKIPPED_DROP_IN = 'sudoers.skipped-drop-in';
const MAX_LINE = 8 * 1024;
const MAX_CONTINUED_LINES = 100;
/** cloud-init's per-user drop-in ("users: sudo: ALL=(ALL) NOPASSWD:ALL"). */
const CLOUD_INIT_FILE = '/etc/sudoers.d/90-cloud-init-users';
const FIRST_REGULAR_UID = 1000;

export const sudoersCheck: Check = {
  id: 'sudoers',
  ruleIds: [SKIPPED_DROP_IN, 'sudoers.unpackaged-grant', 'sudoers.cloud-init-nopasswd', 'sudoers.nopasswd-all', 'sudoers.all-to-odd-account', 'sudoers.grant'],
  persistence: true,
  watched: [{ what: 'sudo configuration', globs: ['/etc/sudoers', '/etc/sudoers.d', '/etc/sudoers.d/*'] }],
  description: 'sudo rules of /etc/sudoers and the files it includes (sudoers.d)',
  paths: [SUDOERS, '/etc/sudoers.d/*', '/etc/passwd'],
  async run(ctx) {
    const files: SudoersFile[] = [];
    await readSudoers(ctx, SUDOERS, 0, new Set(), files);
    const aliases = collectAliases(files);
    for (const file of files) await judgeFile(ctx, file, aliases);
  },
};

export interface SudoersLine {
  line: number;
  /** Without comments and continuations. */
  text: string;
  /** As written, continuations joined. */
  evidence: string;
}

interface SudoersFile {
  path: string;
  lines: SudoersLine[];
}

/** Logical lines of a sudoers file, with the include directives kept as written. */
export function sudoersLines(text: string): SudoersLine[] {
  const out: SudoersLine[] = [];
  for (const continued of continuedLines(text, MAX_CONTINUED_LINES, ' ')) {
    const logical = continued.text.slice(0, MAX_LINE);
    const evidence = logical.trim();
    if (evidence === '') continue;
    if (/^[#@]include(?:dir)?\s/.test(evidence)) {
      out.push({ line: continued.line, text: evidence, evidence });
      continue;
    }
    // "#" followed by a digit is a uid ("#0", "%#1000"); anything else starts a comment.
    const text = logical.replace(/#(?!\d).*$/, '').trim();
    if (text !== '') out.push({ line: continued.line, text, evidence });
  }
  return out;
}

async function readSudoers(ctx: CheckContext, path: string, depth: number, seen: Set<string>, out: SudoersFile[]): Promise<void> {
  const file = await readIncludedConfig(ctx, path, depth, MAX_INCLUDE_DEPTH, seen);
  if (!file) return;
  const lines = sudoersLines(file.text);
  out.push({ path, lines });
  for (const l of lines) {
    const include = /^[#@]include(dir)?\s+(?:"([^"]+)"|(\S+))/.exec(l.text);
    if (!include) continue;
    const target = include[2] ?? include[3]!;
    const resolved = normalizePath(target.startsWith('/') ? target : joinPath(dirname(path), target));
    if (include[1]) {
      for (const f of await globFiles(ctx, `${resolved}/*`)) {
        if (!basename(f).endsWith('~') && !basename(f).includes('.')) await readSudoers(ctx, f, depth + 1, seen, out);
        else await reportSkipped(ctx, f, `${path}:${l.line}`);
      }
    } else {
      await readSudoers(ctx, resolved, depth + 1, seen, out);
    }
  }
}

/** What package tools leave beside a configuration file they could not replace: skipped, and nobody's plan. */
const PACKAGE_LEFTOVER = /\.(?:dpkg-(?:old|dist|new|bak|tmp)|rpmnew|rpmsave|rpmorig|ucf-(?:old|new|dist))$/;

/**
 * A file sudo skips grants nothing, but someone wrote it where grants go: a drop-in
 * named `90-users.conf` or `admin~` is an intruder's that did not take, or one waiting
 * to be renamed. Package tools' leftovers and empty files are left alone.
 */
async function reportSkipped(ctx: CheckContext, path: string, includedBy: string): Promise<void> {
  if (PACKAGE_LEFTOVER.test(basename(path))) return;
  const file = await readIncludedConfig(ctx, path, 0, MAX_INCLUDE_DEPTH, new Set());
  if (!file) return;
  const lines = sudoersLines(file.text);
  if (lines.length === 0) return;
  const unlock = await unlockCommand(ctx, path);
  ctx.report(
    ctx.rules.finding(SKIPPED_DROP_IN, {
      path,
      line: lines[0]!.line,
      evidence: lines.slice(0, 3).map((l) => l.evidence).join('; '),
      vars: { includedBy, name: basename(path), fix: [...(unlock ? [unlock] : []), `rm -f ${shellQuote(path)}`].join('\n') },
    }),
  );
}

type Aliases = Map<string, string[]>;

/** User_Alias and Cmnd_Alias definitions of every file ("NAME = a, b : NAME2 = c"). */
function collectAliases(files: SudoersFile[]): { users: Aliases; commands: Aliases } {
  const users: Aliases = new Map();
  const commands: Aliases = new Map();
  for (const f of files) {
    for (const l of f.lines) {
      const m = /^(User|Cmnd|Cmd)_Alias\s+(.*)$/.exec(l.text);
      if (!m) continue;
      const map = m[1] === 'User' ? users : commands;
      for (const def of m[2]!.split(/\s:\s/)) {
        const eq = def.indexOf('=');
        if (eq > 0) map.set(def.slice(0, eq).trim(), splitList(def.slice(eq + 1)));
      }
    }
  }
  return { users, commands };
}

function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Names an alias stands for, aliases inside aliases expanded a bounded number of times. */
function expand(names: string[], aliases: Aliases, depth = 0): string[] {
  return names.flatMap((n) => {
    const bare = n.replace(/^!+/, '');
    const def = aliases.get(bare);
    return def && depth < 8 ? expand(def, aliases, depth + 1) : [n];
  });
}

export interface UserSpec {
  users: string[];
  runas: string;
  nopasswd: boolean;
  allCommands: boolean;
  commands: string;
}

/** A user specification ("USERS HOSTS = [(RUNAS)] [TAGS:] COMMANDS"), undefined for any other line. */
export function parseUserSpec(text: string, aliases: { users: Aliases; commands: Aliases }): UserSpec | undefined {
  if (/^(?:Defaults\b|[A-Za-z]+_Alias\s|[#@]include)/.test(text)) return undefined;
  const m = /^(\S+)\s+([^=\s]+)\s*=\s*(.*)$/.exec(text.replace(/\s*,\s*/g, ','));
  if (!m) return undefined;
  // Only the first "HOSTS = COMMANDS" part is judged; later ": HOSTS = ..." parts grant the same users more.
  let spec = m[3]!.split(/\s:\s*[^\s=]+\s*=/)[0]!;
  let runas = 'root';
  const runasMatch = /^\(([^)]*)\)\s*/.exec(spec);
  if (runasMatch) {
    runas = runasMatch[1]!.trim() || 'root';
    spec = spec.slice(runasMatch[0].length);
  }
  const tags = /^(?:(?:[A-Z_]+\s*:\s*)|(?:(?:ROLE|TYPE|CWD|CHROOT|TIMEOUT|NOTBEFORE|NOTAFTER|APPARMOR_PROFILE)=\S+\s+))*/.exec(spec)![0];
  const commandList = expand(splitList(spec.slice(tags.length).replace(/\b[A-Z_]+\s*:\s*/g, '')), aliases.commands);
  return {
    users: expand(splitList(m[1]!), aliases.users),
    runas,
    nopasswd: /\bNOPASSWD\s*:/.test(spec),
    allCommands: commandList.some((c) => c === 'ALL'),
    commands: commandList.join(', ') || 'nothing',
  };
}

async function judgeFile(ctx: CheckContext, file: SudoersFile, aliases: { users: Aliases; commands: Aliases }): Promise<void> {
  const owner = await packageOwner(ctx, file.path);
  const fileFix = file.path === SUDOERS ? undefined : await removeFileCommands(ctx, file.path, owner);
  const text = file.lines.map((l) => l.text);
  const byIndex = new Map<number, Rule[]>();
  // Content rules get the comment-free logical lines, at their own index, then map back.
  for (const hit of ctx.rules.matchLines('sudoers', file.path, text.join('\n'))) {
    byIndex.set(hit.line - 1, [...(byIndex.get(hit.line - 1) ?? []), hit.rule]);
  }
  for (const [i, l] of file.lines.entries()) {
    const where = `${file.path}:${l.line}`;
    const fix = await removeLineCommands(ctx, file.path, l);
    const base = { path: file.path, line: l.line, evidence: l.evidence, category: CATEGORY };
    for (const rule of byIndex.get(i) ?? []) ctx.report(ctx.rules.finding(rule, { ...base, vars: { where, fix, context: ' (sudoers rule)' } }));
    const spec = parseUserSpec(l.text, aliases);
    if (!spec) continue;
    const verdict = await judgeSpec(ctx, file.path, spec, owner);
    if (!verdict) continue;
    const vars = {
      where,
      users: spec.users.join(', '),
      runas: spec.runas,
      commands: spec.allCommands ? 'any command' : spec.commands,
      reason: verdict.reason,
      fix: verdict.rule === 'sudoers.unpackaged-grant' && fileFix ? `${fix}\n# or drop the whole file:\n${fileFix}` : fix,
    };
    ctx.report(ctx.rules.finding(verdict.rule, { ...base, vars }));
  }
}

async function judgeSpec(ctx: CheckContext, path: string, spec: UserSpec, owner: Ownership): Promise<{ rule: string; reason: string } | undefined> {
  const odd: string[] = [];
  let allRegular = true;
  for (const user of spec.users) {
    const why = await oddAccount(ctx, user);
    if (why) odd.push(why);
    if (why !== undefined || !(await isRegularAccount(ctx, user))) allRegular = false;
  }
  const reason = odd.length > 0 ? ` (${odd.join('; ')})` : '';
  if (spec.allCommands && spec.nopasswd) {
    if (path === CLOUD_INIT_FILE && allRegular) return { rule: 'sudoers.cloud-init-nopasswd', reason };
    return { rule: 'sudoers.nopasswd-all', reason };
  }
  if (spec.allCommands && odd.length > 0) return { rule: 'sudoers.all-to-odd-account', reason };
  if (owner.kind === 'unowned') return { rule: 'sudoers.unpackaged-grant', reason };
  if (spec.users.every((u) => u === 'root' || u.startsWith('%'))) return undefined;
  return { rule: 'sudoers.grant', reason };
}

/** Why a sudo user is no administrator's account, undefined when nothing is odd (groups are not judged). */
async function oddAccount(ctx: CheckContext, user: string): Promise<string | undefined> {
  if (user.startsWith('!') || user.startsWith('%') || user.startsWith('+')) return undefined;
  if (user === 'ALL') return 'every account';
  const entry = await passwdEntry(ctx, user);
  if (!entry) return `${user} is not in /etc/passwd`;
  if (entry.uid === 0) return undefined;
  if (entry.uid < FIRST_REGULAR_UID || entry.uid === 65534) return `${user} has the system uid ${entry.uid}`;
  if (/\/(?:nologin|false)$/.test(entry.shell.trim())) return `${user} has no login shell (${entry.shell})`;
  const home = entry.home.trim();
  if (home === '' || home === '/nonexistent' || !(await ctx.vfs.exists(home))) return `${user} has no home directory`;
  return undefined;
}

async function isRegularAccount(ctx: CheckContext, user: string): Promise<boolean> {
  const entry = await passwdEntry(ctx, user);
  return entry !== undefined && entry.uid >= FIRST_REGULAR_UID && entry.uid !== 65534;
}

async function passwdEntry(ctx: CheckContext, user: string): Promise<PasswdEntry | undefined> {
  const entries = (await ctx.facts.passwd()).entries;
  const uid = /^#(\d+)$/.exec(user);
  return uid ? entries.find((e) => e.uid === Number(uid[1])) : entries.find((e) => e.name === user.replace(/^"|"$/g, ''));
}

async function removeLineCommands(ctx: CheckContext, path: string, l: SudoersLine): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  commands.push(`sed -i '${l.line}d' ${shellQuote(path)}   # deletes line ${l.line}: ${showLine(l.evidence)}`);
  commands.push(`visudo -c   # checks the sudoers files still parse`);
  return commands.join('\n');
}

async function removeFileCommands(ctx: CheckContext, path: string, owner: Ownership): Promise<string | undefined> {
  if (owner.kind === 'owned') return undefined;
  const unlock = await unlockCommand(ctx, path);
  return [unlock, `rm -f ${shellQuote(path)}   # no package owns this file`].filter(Boolean).join('\n');
}
