/**
 * One authorized_keys file, read and judged: every key reported at info level with its
 * ssh-keygen fingerprint, keys known from intrusions, forced commands through the shared
 * command-line scan, lines sshd cannot read, a locked file, a file owned by the wrong
 * account. The ssh-keys check runs it on every home's key files, the sshd-config check
 * on the files an AuthorizedKeysFile directive names.
 */
import { readWholeText } from '../../facts/vfs-lines.js';
import type { CheckContext } from '../../model/check.js';
import type { InodeFlags, Stat } from '../../../mountfs/vfs.js';
import { dirname } from '../../../mountfs/path.js';
import { isNotFound } from '../../../mountfs/errors.js';
import { shellQuote } from '../../rules/ruleset.js';
import { keygenLine, parseAuthorizedKeys, type AuthorizedKey } from '../../facts/authorized-keys.js';
import type { Home } from '../../facts/login-homes.js';
import { flagWords, flagsOf, unlockPrefix } from './unlock.js';
import { deleteStartedCommands, showLine } from './command-remediation.js';
import { scanCommandLines, type CommandLine } from './command-scan.js';

const CATEGORY = 'persistence/ssh';
/** The rules checkKeyFile fires, for the ruleIds of every check that reads key files with it. */
export const KEY_FILE_RULE_IDS = ['ssh.authorized-key', 'ssh.malformed-line', 'ssh.key-in-locked-file', 'ssh.root-owned-key-file', 'ssh.foreign-owner'];

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
    const flags = await flagsOf(ctx.vfs, real);
    const dirFlags = await flagsOf(ctx.vfs, dirname(real));
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
