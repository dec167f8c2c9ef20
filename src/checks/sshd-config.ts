/**
 * The sshd-config check: what the SSH server is told about who may log in, read as
 * sshd_config(5) describes.
 *
 * /etc/ssh/sshd_config and its `Include` files (globs, relative ones under /etc/ssh,
 * read where the directive stands, bounded depth): "Keyword arguments" or
 * "Keyword=arguments", keywords case-insensitive, `#` starts a comment, and the first
 * value obtained for a keyword is the one in force; a `Match` block's settings apply
 * only to the connections it matches (they are still judged, never taken as the global
 * value).
 *
 * - Directive lines go through the `sshd-config` content rules (sshd-config.yaml), the first
 *   matching rule reported per line; AuthorizedKeysCommand, AuthorizedPrincipalsCommand,
 *   ForceCommand and Subsystem lines go through the shared command-line scan instead, and an
 *   AuthorizedKeysCommand program no package owns is reported at medium.
 * - AuthorizedKeysFile values other than the default are expanded (%h, %u, %U, %%,
 *   relative to each home) and the key files found are read and reported the way the
 *   ssh-keys check reports ~/.ssh/authorized_keys.
 * - PermitRootLogin yes with password authentication in force (its default is yes) is
 *   reported at low, and at medium when the file that says it is not as its package
 *   shipped it (Debian's /etc/ssh/sshd_config is written from the template
 *   /usr/share/openssh/sshd_config; a drop-in no package owns is someone's change).
 * - More than one global Port (sshd listens on each): an extra way in, medium. A
 *   single moved Port is an administrator's habit and is not reported.
 */
import type { Check, CheckContext } from '../model/check.js';
import { textLines } from '../facts/vfs-lines.js';
import { joinPath, normalizePath } from '../../mountfs/path.js';
import type { Rule } from '../rules/types.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteStartedCommands, showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { globFiles, isGlob, packageOwner, readConfigText } from './shared/config-files.js';
import { checkKeyFile, openKeyFile, KEY_FILE_RULE_IDS } from './shared/authorized-keys-file.js';
import type { Home } from '../facts/login-homes.js';

const SSHD_CONFIG = '/etc/ssh/sshd_config';
const CATEGORY = 'persistence/ssh';
/** sshd allows 16 levels of Include; real configurations use one. */
const MAX_INCLUDE_DEPTH = 8;
const MAX_LINE = 8 * 1024;
const COMMAND_KEYWORDS = new Set(['authorizedkeyscommand', 'authorizedprincipalscommand', 'forcecommand', 'subsystem']);
const COMMAND_CONTEXT: Record<string, string> = {
  forcecommand: ' (sshd runs it instead of what the user asks, at every login it applies to)',
  authorizedkeyscommand: ' (sshd runs it to decide which keys may log in)',
  authorizedprincipalscommand: ' (sshd runs it to decide which certificate principals may log in)',
  subsystem: ' (sshd runs it for every client that asks for the subsystem)',
};
const DEFAULT_KEY_FILES = new Set(['.ssh/authorized_keys', '.ssh/authorized_keys2', '%h/.ssh/authorized_keys', '%h/.ssh/authorized_keys2']);
/** Key files read per AuthorizedKeysFile value: one per home, and homes are bounded. */
const MAX_KEY_FILES = 4096;
const RELOAD = 'sshd -t && systemctl reload ssh   # checks the configuration, then applies it';
const ROOT_PASSWORD_CHANGED = 'sshd.root-password-login-changed';
const EXTRA_PORT = 'sshd.extra-port';
/** Debian's openssh-server writes /etc/ssh/sshd_config from this template (ucf): the package's version of it. */
const PACKAGE_TEMPLATE = '/usr/share/openssh/sshd_config';

export const sshdConfigCheck: Check = {
  id: 'sshd-config',
  ruleIds: ['sshd.keys-command-unpackaged', 'sshd.root-password-login', ROOT_PASSWORD_CHANGED, EXTRA_PORT, ...COMMAND_SCAN_RULE_IDS, ...KEY_FILE_RULE_IDS],
  persistence: true,
  watched: [{ what: 'SSH server configuration', globs: ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d', '/etc/ssh/sshd_config.d/*'] }],
  description: 'sshd_config and its Include files: key files moved elsewhere, key commands, empty and root passwords',
  paths: [SSHD_CONFIG, '/etc/ssh/sshd_config.d/*', '/etc/passwd'],
  async run(ctx) {
    const directives: Directive[] = [];
    const files: string[] = [];
    await readConfig(ctx, SSHD_CONFIG, 0, false, new Set(), directives, files);
    for (const path of files) await scanFile(ctx, path, directives.filter((d) => d.path === path));
    await judgeRootPassword(ctx, directives);
    await judgePorts(ctx, directives);
    await readMovedKeyFiles(ctx, directives);
  },
};

export interface Directive {
  path: string;
  line: number;
  /** The line without its comment. */
  text: string;
  keyword: string;
  args: string[];
  inMatch: boolean;
}

/** The directives of one file, in order; Include and Match are kept as directives. */
export function parseSshdConfig(text: string, path: string, inMatch: boolean): Directive[] {
  const out: Directive[] = [];
  let matching = inMatch;
  textLines(text).forEach(({ text: raw, line: n }) => {
    const line = raw.slice(0, MAX_LINE).replace(/(?:^|\s)#.*$/, '').trim();
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) return;
    const keyword = m[1]!.toLowerCase();
    if (keyword === 'match') matching = true;
    out.push({ path, line: n, text: line, keyword, args: splitArgs(m[2]!), inMatch: matching });
  });
  return out;
}

/** sshd's argument splitting: whitespace separates, double quotes group. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

async function readConfig(
  ctx: CheckContext,
  path: string,
  depth: number,
  inMatch: boolean,
  seen: Set<string>,
  out: Directive[],
  files: string[],
): Promise<void> {
  if (seen.has(path) || depth > MAX_INCLUDE_DEPTH) return;
  seen.add(path);
  const file = await readConfigText(ctx, path);
  if (!file) return;
  files.push(path);
  for (const d of parseSshdConfig(file.text, path, inMatch)) {
    out.push(d);
    if (d.keyword !== 'include') continue;
    for (const arg of d.args) {
      const pattern = arg.startsWith('/') ? arg : joinPath('/etc/ssh', arg);
      const targets = isGlob(pattern) ? await globFiles(ctx, pattern) : [normalizePath(pattern)];
      for (const t of targets) await readConfig(ctx, t, depth + 1, d.inMatch, seen, out, files);
    }
  }
}

async function scanFile(ctx: CheckContext, path: string, directives: Directive[]): Promise<void> {
  const plain = directives.filter((d) => !COMMAND_KEYWORDS.has(d.keyword));
  const texts: string[] = [];
  for (const d of plain) {
    while (texts.length < d.line - 1) texts.push('');
    texts[d.line - 1] = d.text;
  }
  const first = new Map<number, Rule>();
  for (const hit of ctx.rules.matchLines('sshd-config', path, texts.join('\n'))) if (!first.has(hit.line)) first.set(hit.line, hit.rule);
  for (const [line, rule] of first) {
    const d = plain.find((p) => p.line === line)!;
    const fix = await removeLine(ctx, path, d);
    ctx.report(ctx.rules.finding(rule, { path, line, evidence: d.text, category: CATEGORY, vars: { where: `${path}:${line}`, fix, context: ' (sshd configuration)' } }));
  }

  const commands = directives.filter((d) => COMMAND_KEYWORDS.has(d.keyword) && d.args.length > 0 && d.args[0]!.toLowerCase() !== 'none');
  const lines: CommandLine[] = commands.map((d) => ({
    line: d.line,
    text: d.text,
    evidence: d.text,
    // Subsystem's first argument is the subsystem's name; internal-sftp runs no program.
    run: { syntax: d.keyword === 'forcecommand' ? 'shell' : 'exec', command: (d.keyword === 'subsystem' ? d.args.slice(1) : d.args).join(' ') },
    vars: { context: COMMAND_CONTEXT[d.keyword] },
  }));
  if (lines.length > 0) {
    await scanCommandLines(ctx, {
      scope: 'sshd-config',
      path,
      category: CATEGORY,
      vars: { context: ' (sshd configuration)' },
      fix: async (line, started) => [await removeLine(ctx, path, line), ...(await deleteStartedCommands(ctx, started))].join('\n'),
    }, lines);
  }
  for (const d of commands.filter((c) => c.keyword === 'authorizedkeyscommand')) {
    const program = d.args[0]!;
    if (!program.startsWith('/') || (await packageOwner(ctx, normalizePath(program))).kind !== 'unowned') continue;
    if (!(await ctx.vfs.exists(program))) continue;
    const fix = [await removeLine(ctx, path, d), `rm -f ${shellQuote(normalizePath(program))}   # no package owns it`].join('\n');
    ctx.report(ctx.rules.finding('sshd.keys-command-unpackaged', { path, line: d.line, evidence: d.text, category: CATEGORY, vars: { where: `${path}:${d.line}`, program, fix } }));
  }
}

/** The global value in force: the first one outside Match blocks. */
function globalValue(directives: Directive[], keyword: string): Directive | undefined {
  return directives.find((d) => d.keyword === keyword && !d.inMatch && d.args.length > 0);
}

async function judgeRootPassword(ctx: CheckContext, directives: Directive[]): Promise<void> {
  const root = globalValue(directives, 'permitrootlogin');
  if (root?.args[0]!.toLowerCase() !== 'yes') return;
  const password = globalValue(directives, 'passwordauthentication');
  const value = password?.args[0]!.toLowerCase() ?? 'yes';
  if (value !== 'yes') return;
  ctx.report(
    ctx.rules.finding((await asShipped(ctx, root.path)) ? 'sshd.root-password-login' : ROOT_PASSWORD_CHANGED, {
      path: root.path,
      line: root.line,
      evidence: `${root.text}; ${password ? `${password.text} (${password.path}:${password.line})` : 'PasswordAuthentication not set (default yes)'}`,
      category: CATEGORY,
      vars: { where: `${root.path}:${root.line}`, password: password ? `yes at ${password.path}:${password.line}` : 'yes by default' },
    }),
  );
}

/**
 * Whether the file is its package's: a packaged file unchanged, or sshd_config as the
 * package's template has it (or the root has no package database to tell).
 */
async function asShipped(ctx: CheckContext, path: string): Promise<boolean> {
  const state = await ctx.facts.packageFiles.state(path);
  // Without a package database nothing says the file differs from anything.
  if (state.kind === 'unchanged' || (state.kind === 'unknown' && !(await ctx.facts.packages.available()))) return true;
  if (path !== SSHD_CONFIG || (await ctx.facts.packageFiles.state(PACKAGE_TEMPLATE)).kind !== 'unchanged') return false;
  try {
    const [mine, template] = await Promise.all([ctx.vfs.readFile(path, { maxBytes: 1 << 20 }), ctx.vfs.readFile(PACKAGE_TEMPLATE, { maxBytes: 1 << 20 })]);
    return mine.equals(template);
  } catch {
    return false;
  }
}

/** More than one global Port: the second and later ones are extra ways in. */
async function judgePorts(ctx: CheckContext, directives: Directive[]): Promise<void> {
  const ports = directives.filter((d) => d.keyword === 'port' && !d.inMatch && d.args.length > 0);
  const distinct = new Set(ports.map((d) => d.args[0]));
  if (distinct.size < 2) return;
  const shown = [...distinct].join(', ');
  for (const d of ports.slice(1)) {
    const fix = [await removeLine(ctx, d.path, d), RELOAD].join('\n');
    ctx.report(ctx.rules.finding(EXTRA_PORT, { path: d.path, line: d.line, evidence: d.text, category: CATEGORY, vars: { where: `${d.path}:${d.line}`, ports: shown, fix } }));
  }
}

/** Reads the keys of every AuthorizedKeysFile value that is not the default. */
async function readMovedKeyFiles(ctx: CheckContext, directives: Directive[]): Promise<void> {
  const values = new Set(directives.filter((d) => d.keyword === 'authorizedkeysfile').flatMap((d) => d.args));
  const moved = [...values].filter((v) => !DEFAULT_KEY_FILES.has(v) && v.toLowerCase() !== 'none');
  if (moved.length === 0) return;
  const homes = await ctx.facts.loginHomes();
  const seen = new Set<string>();
  for (const value of moved) {
    let count = 0;
    for (const target of keyFileTargets(value, homes)) {
      if (count++ >= MAX_KEY_FILES) break;
      const file = await openKeyFile(ctx, target.path);
      if (!file || seen.has(file.real)) continue;
      seen.add(file.real);
      await checkKeyFile(ctx, file, target.home, target.who);
    }
  }
}

interface KeyFileTarget {
  path: string;
  /** Set when the file lies in the home whose logins it controls (its owner is then judged). */
  home?: Home;
  who: string;
}

/** The files one AuthorizedKeysFile value names, per account when it depends on the account. */
export function keyFileTargets(value: string, homes: Home[]): KeyFileTarget[] {
  const perAccount = /%[hHuU]/.test(value) || !value.startsWith('/');
  if (!perAccount) return [{ path: normalizePath(value.replace(/%%/g, '%')), who: 'every account' }];
  const homeRelative = !value.startsWith('/') || value.startsWith('%h');
  const out: KeyFileTarget[] = [];
  for (const home of homes) {
    for (const user of home.users) {
      const expanded = value.replace(/%(.)/g, (whole, c: string) => (c === 'h' ? home.path : c === 'u' ? user.name : c === 'U' ? String(user.uid) : c === '%' ? '%' : whole));
      const path = normalizePath(expanded.startsWith('/') ? expanded : joinPath(home.path, expanded));
      out.push({ path, home: homeRelative ? home : undefined, who: user.name });
    }
  }
  return out;
}

async function removeLine(ctx: CheckContext, path: string, d: { line: number; text: string }): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  commands.push(`sed -i '${d.line}d' ${shellQuote(path)}   # deletes line ${d.line}: ${showLine(d.text)}`);
  commands.push(RELOAD);
  return commands.join('\n');
}
