/**
 * SSH keys that open a login: ~/.ssh/authorized_keys and authorized_keys2 (sshd's
 * default AuthorizedKeysFile) of root and of every home in /etc/passwd; /root is looked
 * at even when passwd is missing. Every key is reported at info level with its
 * ssh-keygen fingerprint, an inventory an operator compares against who should have
 * access. Raised on top of that:
 *
 * - keys known from intrusions: name rules on the comment (scope ssh-key-comment,
 *   Outlaw's "mdrfckr") and on the fingerprint (scope ssh-key-fingerprint);
 * - a key file locked with chattr +i / +a (attackers lock their key in);
 * - lines sshd cannot read (low: sshd skips them, but someone wrote them);
 * - a key file owned by another account than the home's (medium; sshd's StrictModes
 *   refuses it, so it is a mistake or tampering) or, in a user's home, by root (low:
 *   what a root intruder leaves, but also what a careless administrator does).
 *
 * A key's `command="..."` option is a command line sshd runs through the user's shell
 * on every login with the key: it goes through the shared command-line scan (scope
 * ssh-key), with the options and comment of every line, so download-and-run, miner and
 * temporary-directory rules fire on it while a plain `command="/usr/local/bin/deploy.sh"`
 * stays in the inventory. The key blob itself is left out of the content rules (random
 * base64 can look like anything).
 *
 * Findings are reported on the real file (symlinks resolved), which is the one the
 * remediation's `sed -i` must edit. The sshd-config check reuses openKeyFile and
 * checkKeyFile for the files an AuthorizedKeysFile directive moves keys to.
 */
import { readWholeText } from '../facts/vfs-lines.js';
import type { Check, CheckContext } from '../engine/check.js';
import type { InodeFlags, Stat } from '../../mountfs/vfs.js';
import { dirname, joinPath, normalizePath } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { shellQuote } from '../rules/ruleset.js';
import { keygenLine, parseAuthorizedKeys, type AuthorizedKey } from '../facts/authorized-keys.js';
import { flagWords, unlockPrefix } from './shared/unlock.js';
import { deleteStartedCommands, showLine } from './shared/command-remediation.js';
import { scanCommandLines, type CommandLine } from './shared/command-scan.js';

const KEY_FILES = ['authorized_keys', 'authorized_keys2'];
/** A key line is under 16 KiB even for an 16384-bit RSA key with options; a MiB holds dozens. */
const CATEGORY = 'persistence/ssh';

/** Everything this check reads; homes can be anywhere, so the key files match at any depth. */
export const SSH_KEY_GLOBS = ['/etc/passwd', ...KEY_FILES.flatMap((f) => [`/root/.ssh/${f}`, `/**/.ssh/${f}`])];

/** A home directory and the accounts that log in with it. */
export interface Home {
  path: string;
  users: { name: string; uid: number }[];
}

export const sshKeysCheck: Check = {
  id: 'ssh-keys',
  persistence: true,
  description: 'Keys in ~/.ssh/authorized_keys and authorized_keys2 of root and of every account',
  paths: SSH_KEY_GLOBS,
  async run(ctx) {
    const seen = new Set<string>();
    for (const home of await loginHomes(ctx)) {
      for (const name of KEY_FILES) {
        const path = joinPath(joinPath(home.path, '.ssh'), name);
        const file = await openKeyFile(ctx, path);
        // Two accounts sharing a home, or a link between homes, lead to one file: report it once.
        if (!file || seen.has(file.real)) continue;
        seen.add(file.real);
        await checkKeyFile(ctx, file, home);
      }
    }
  },
};

/** Every home in /etc/passwd, grouped (accounts share homes), with /root always first. */
export async function loginHomes(ctx: CheckContext): Promise<Home[]> {
  const homes = new Map<string, Home>([['/root', { path: '/root', users: [] }]]);
  for (const e of (await ctx.facts.passwd()).entries) {
    if (e.home.trim() === '') continue;
    const path = normalizePath(e.home.trim());
    let home = homes.get(path);
    if (!home) homes.set(path, (home = { path, users: [] }));
    home.users.push({ name: e.name, uid: e.uid });
  }
  const root = homes.get('/root')!;
  if (root.users.length === 0) root.users.push({ name: 'root', uid: 0 });
  return [...homes.values()];
}

export interface KeyFile {
  /** The path as reached from the home. */
  path: string;
  /** The file itself, every symlink resolved. */
  real: string;
  stat: Stat;
  text: string;
  flags?: InodeFlags;
  dirFlags?: InodeFlags;
}

export async function openKeyFile(ctx: CheckContext, path: string): Promise<KeyFile | undefined> {
  try {
    const stat = await ctx.vfs.stat(path);
    if (stat.type !== 'file') return undefined;
    const real = await ctx.vfs.realpath(path);
    // sshd reads every line of the file, so minescan does too (comment lines kept short).
    const whole = await readWholeText(ctx.vfs, real, { commentChars: '#' });
    ctx.examined(real);
    if (whole.unread) ctx.error(real, whole.unread);
    const text = whole.text;
    const flags = await ctx.vfs.flags(real).catch(() => undefined);
    const dirFlags = await ctx.vfs.flags(dirname(real)).catch(() => undefined);
    return { path, real, stat, text, flags, dirFlags };
  } catch (err) {
    // No key file is the common case; a dangling link is no key file either.
    if (!isNotFound(err)) ctx.error(path, err);
    return undefined;
  }
}

/**
 * Reports every key of the file and what is wrong with it. `home` is the home whose
 * logins the file controls; without one (a file shared by every account) its owner is
 * not judged and `who` names the accounts.
 */
export async function checkKeyFile(ctx: CheckContext, file: KeyFile, home: Home | undefined, who?: string): Promise<void> {
  const path = file.real;
  const user = who ?? home?.users.map((u) => u.name).join(', ') ?? 'every account';
  // sed -i writes a new file beside the old one: a locked directory blocks it as much as a locked file.
  const unlock = unlockPrefix(dirname(path), file.dirFlags) + unlockPrefix(path, file.flags);
  const { keys, malformed } = parseAuthorizedKeys(file.text);

  for (const key of keys) {
    const input = { path, line: key.line, evidence: keygenLine(key), vars: keyVars(key, user, unlock, path), category: CATEGORY };
    for (const rule of ctx.rules.matchName('ssh-key-comment', key.comment)) ctx.report(ctx.rules.finding(rule, input));
    for (const rule of ctx.rules.matchName('ssh-key-fingerprint', key.fingerprint)) ctx.report(ctx.rules.finding(rule, input));
    ctx.report(ctx.rules.finding('ssh.authorized-key', input));
  }
  await scanKeyLines(ctx, path, user, unlock, keys, malformed);
  for (const m of malformed) {
    const vars = { user, reason: m.reason, unlock, fix: deleteLine(unlock, path, m.line, m.text) };
    ctx.report(ctx.rules.finding('ssh.malformed-line', { path, line: m.line, evidence: m.text, vars, category: CATEGORY }));
  }

  const flag = flagWords(file.flags);
  if (flag && keys.length > 0) {
    const fingerprints = keys.map((k) => `${k.fingerprint} ${k.comment || 'no comment'}`).join('; ');
    ctx.report(
      ctx.rules.finding('ssh.key-in-locked-file', {
        path,
        evidence: `${flag}; ${keys.length} key(s): ${fingerprints}`,
        vars: { flag, count: keys.length, user },
        category: CATEGORY,
      }),
    );
  }
  if (home) reportOwner(ctx, file, home, user);
}

/**
 * The content rules of scope ssh-key over each line with its key blob masked, and each
 * forced command run as a shell line (its programs recorded as started).
 */
async function scanKeyLines(ctx: CheckContext, path: string, user: string, unlock: string, keys: AuthorizedKey[], malformed: { line: number; text: string }[]): Promise<void> {
  const lines: CommandLine[] = [];
  for (const key of keys) {
    const line: CommandLine = { line: key.line, text: key.text.replace(key.base64, '<key>'), evidence: key.text };
    const command = forcedCommand(key);
    if (command !== undefined) {
      line.run = { syntax: 'shell', command };
      line.vars = { context: ` (forced command of the key ${key.fingerprint}, run at every login as ${user})` };
    }
    lines.push(line);
  }
  for (const m of malformed) lines.push({ line: m.line, text: m.text, evidence: m.text });
  lines.sort((a, b) => a.line - b.line);
  await scanCommandLines(
    ctx,
    {
      scope: 'ssh-key',
      path,
      category: CATEGORY,
      vars: { context: ` (authorized_keys of ${user})`, user, unlock },
      fix: async (line, started) => [deleteLine(unlock, path, line.line, line.evidence), ...(await deleteStartedCommands(ctx, started))].join('\n'),
    },
    lines,
  );
}

/** The value of the key's command="..." option with sshd's one escape (\") undone; undefined without one. */
export function forcedCommand(key: AuthorizedKey): string | undefined {
  const option = key.options.find((o) => /^command="/i.test(o));
  if (option === undefined) return undefined;
  return option.slice('command="'.length, option.endsWith('"') ? -1 : undefined).replace(/\\"/g, '"');
}

function keyVars(key: AuthorizedKey, user: string, unlock: string, path: string) {
  return {
    user,
    type: key.type,
    bits: key.bits,
    label: key.label,
    fingerprint: key.fingerprint,
    comment: key.comment || 'no comment',
    options: key.options.length > 0 ? ` with options ${key.optionsText}` : '',
    unlock,
    fix: deleteLine(unlock, path, key.line, key.text),
  };
}

function deleteLine(unlock: string, path: string, line: number, text: string): string {
  return `${unlock}sed -i '${line}d' ${shellQuote(path)}   # deletes line ${line}: ${showLine(text)}`;
}

function reportOwner(ctx: CheckContext, file: KeyFile, home: Home, user: string): void {
  const uid = file.stat.uid;
  if (home.users.some((u) => u.uid === uid)) return;
  const expected = home.users[0]!;
  const vars = { owner: uid, user, uid: home.users.map((u) => u.uid).join(', '), name: expected.name };
  const evidence = `owner uid ${uid}, mode ${(file.stat.mode & 0o7777).toString(8).padStart(4, '0')}`;
  const rule = uid === 0 ? 'ssh.root-owned-key-file' : 'ssh.foreign-owner';
  ctx.report(ctx.rules.finding(rule, { path: file.real, evidence, vars, category: CATEGORY }));
}
