/**
 * Accounts an intruder adds or changes to keep access, read from /etc/passwd,
 * /etc/shadow and /etc/group (passwd(5), shadow(5), group(5)):
 *
 * - a second uid-0 account (root under another name): high;
 * - account names known from intrusions: name rules (scope account), from the data;
 * - a system account (uid up to SYS_UID_MAX of /etc/login.defs, else UID_MIN - 1, else
 *   999; and nobody) other than root with a login shell AND a usable password: high.
 *   Debian's stock accounts have "*" or "!" passwords and nologin shells (sync has
 *   /bin/sync), and root is expected to have a password, so none of them fires;
 * - an empty password field (passwd or shadow): anyone logs in, where PAM allows
 *   nullok: high;
 * - passwd and shadow lines that do not parse: medium (NIS "+"/"-" lines are not counted);
 * - members of the administrator groups (sudo, wheel, admin, root): an info inventory,
 *   medium for a system account.
 *
 * And what the logs recorded (src/facts/auth-log.ts): each account creation is info;
 * one with uid 0, or a uid changed to 0, is high; a known-bad name fires its name rule;
 * an account created, no longer in /etc/passwd and with no deletion logged (removed by
 * editing the files, as someone covering tracks does) is medium.
 */
import type { Check, CheckContext } from '../model/check.js';
import { readText } from './shared/read-text.js';
import { normalizePath } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import type { TemplateVars } from '../rules/ruleset.js';
import { ACCOUNT_FILE_READ, hasUsablePassword, isLoginShell, type PasswdEntry, type ShadowEntry } from '../facts/passwd.js';
import { textLines } from '../facts/vfs-lines.js';
import { ACCOUNT_LOG_GLOBS, accountLogs, parseAccountEvents, readLogBounded, type AccountEvent } from '../facts/auth-log.js';
import { chattrUnlock, flagsOf, isLocked } from './shared/unlock.js';

const PASSWD = '/etc/passwd';
const SHADOW = '/etc/shadow';
const GROUP = '/etc/group';
const LOGIN_DEFS = '/etc/login.defs';
const DEFAULT_SYS_UID_MAX = 999;
const NOBODY_UID = 65534;
const ADMIN_GROUPS = new Set(['sudo', 'wheel', 'admin', 'root']);
const CATEGORY = 'accounts';
/** Homes `userdel -r` must never delete, whoever's they are. */
const SHARED_HOMES = /^\/(?:|root|bin|sbin|usr(?:\/.*)?|etc|var|var\/(?:lib|spool|run|cache|backups|mail)|dev|proc|sys|run|tmp|nonexistent|home|opt|lib.*|boot)$/;

export const accountsCheck: Check = {
  id: 'accounts',
  ruleIds: ['accounts.malformed-line', 'accounts.extra-uid0', 'accounts.empty-password', 'accounts.system-account-login', 'accounts.system-account-admin-group', 'accounts.admin-group-member', 'accounts.uid-changed-to-0', 'accounts.created-suspicious', 'accounts.created-then-removed', 'accounts.created'],
  persistence: true,
  watched: [{ what: 'account database', globs: ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow'] }],
  description: 'Extra uid-0 accounts, known malicious accounts, system accounts with logins, empty passwords, administrators, account creation in the logs',
  paths: [PASSWD, SHADOW, GROUP, LOGIN_DEFS, ...ACCOUNT_LOG_GLOBS],
  async run(ctx) {
    const passwdText = await readText(ctx, PASSWD, ACCOUNT_FILE_READ);
    const shadowText = await readText(ctx, SHADOW, ACCOUNT_FILE_READ);
    const passwd = await ctx.facts.passwd();
    const shadow = await ctx.facts.shadow();
    const accounts: Accounts = {
      passwd: passwd.entries,
      shadow: new Map(shadow.entries.map((e) => [e.name, e])),
      locked: await lockedFiles(ctx),
      passwdPresent: passwdText !== undefined,
      homeUsers: countHomes(passwd.entries),
    };

    reportMalformed(ctx, PASSWD, passwdText, passwd.malformedLines);
    reportMalformed(ctx, SHADOW, shadowText, shadow.malformedLines);
    const sysUidMax = await systemUidMax(ctx);
    for (const entry of accounts.passwd) judgeAccount(ctx, accounts, entry, sysUidMax);
    await reportAdminGroups(ctx, accounts, sysUidMax);
    await reportLoggedChanges(ctx, accounts);
  },
};

interface Accounts {
  passwd: PasswdEntry[];
  shadow: Map<string, ShadowEntry>;
  /** passwd and shadow when immutable or append-only: userdel and usermod fail on them. */
  locked: string[];
  passwdPresent: boolean;
  /** How many accounts use each (normalised) home: a shared home is never removed. */
  homeUsers: Map<string, number>;
}

function countHomes(entries: PasswdEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of entries) {
    const home = normalizePath(e.home || '/');
    counts.set(home, (counts.get(home) ?? 0) + 1);
  }
  return counts;
}

async function lockedFiles(ctx: CheckContext): Promise<string[]> {
  const out: string[] = [];
  for (const path of [PASSWD, SHADOW, GROUP, '/etc/gshadow']) {
    if (isLocked(await flagsOf(ctx.vfs, path))) out.push(path);
  }
  return out;
}

function unlockLine(accounts: Accounts): string {
  return accounts.locked.length > 0 ? `${chattrUnlock(accounts.locked)}\n` : '';
}

function reportMalformed(ctx: CheckContext, path: string, text: string | undefined, lines: number[]): void {
  if (text === undefined || lines.length === 0) return;
  const raw = textLines(text);
  for (const line of lines) {
    const evidence = raw[line - 1]?.text ?? '';
    // "+user" / "-user" / "+@netgroup" are NIS compat entries, valid for nsswitch "compat".
    if (/^[+-]/.test(evidence)) continue;
    ctx.report(ctx.rules.finding('accounts.malformed-line', { path, line, evidence, vars: { file: path }, category: CATEGORY }));
  }
}

/** SYS_UID_MAX from login.defs, else UID_MIN - 1, else Debian's 999. */
async function systemUidMax(ctx: CheckContext): Promise<number> {
  const text = await readText(ctx, LOGIN_DEFS, ACCOUNT_FILE_READ);
  if (text === undefined) return DEFAULT_SYS_UID_MAX;
  const value = (key: string): number | undefined => {
    const m = new RegExp(`^[ \\t]*${key}[ \\t]+(\\d+)[ \\t]*$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const uidMin = value('UID_MIN');
  return value('SYS_UID_MAX') ?? (uidMin !== undefined && uidMin > 0 ? uidMin - 1 : DEFAULT_SYS_UID_MAX);
}

function passwdLine(e: PasswdEntry): string {
  return [e.name, e.password, e.uid, e.gid, e.gecos, e.home, e.shell].join(':');
}

function accountVars(e: PasswdEntry, extra: TemplateVars = {}): TemplateVars {
  return { name: e.name, uid: e.uid, gid: e.gid, home: e.home, shell: e.shell || '/bin/sh (empty field)', ...extra };
}

function judgeAccount(ctx: CheckContext, accounts: Accounts, e: PasswdEntry, sysUidMax: number): void {
  const input = { path: PASSWD, line: e.line, evidence: passwdLine(e), category: CATEGORY };
  for (const rule of ctx.rules.matchName('account', e.name)) {
    const vars = accountVars(e, { where: `${PASSWD} line ${e.line}`, fix: removeAccountCommands(accounts, e) });
    ctx.report(ctx.rules.finding(rule, { ...input, vars }));
  }
  if (e.uid === 0 && e.name !== 'root') {
    ctx.report(ctx.rules.finding('accounts.extra-uid0', { ...input, vars: accountVars(e, { fix: removeAccountCommands(accounts, e) }) }));
  }

  // "x" sends the lookup to shadow; anything else in passwd is the password itself.
  const shadowEntry = accounts.shadow.get(e.name);
  const inShadow = e.password === 'x';
  const hash = inShadow ? shadowEntry?.hash : e.password;
  const unlock = unlockLine(accounts);
  if (hash === '') {
    const path = inShadow ? SHADOW : PASSWD;
    const line = inShadow ? shadowEntry!.line : e.line;
    const evidence = inShadow ? `${e.name}::… (empty password field in ${SHADOW})` : passwdLine(e);
    const fix = `${unlock}usermod -L ${shellQuote(e.name)}   # locks the password; set a real one with passwd if the account is needed`;
    ctx.report(ctx.rules.finding('accounts.empty-password', { path, line, evidence, vars: accountVars(e, { file: path, fix }), category: CATEGORY }));
    return;
  }
  const system = (e.uid <= sysUidMax || e.uid === NOBODY_UID) && e.uid !== 0;
  // An empty shell field means /bin/sh to login(1).
  const loginShell = e.shell.trim() === '' || isLoginShell(e.shell);
  if (system && loginShell && hash !== undefined && hasUsablePassword(hash)) {
    const fix = `${unlock}usermod -L -s /usr/sbin/nologin ${shellQuote(e.name)}   # if a service needs the shell, keep it but leave the password locked`;
    const vars = accountVars(e, { sysUidMax, file: inShadow ? SHADOW : PASSWD, fix });
    ctx.report(ctx.rules.finding('accounts.system-account-login', { ...input, vars }));
  }
}

/**
 * userdel, as safe as it can be made: -r (remove the home) only when the home is the
 * account's own, never /root or a system directory; -f for a uid-0 account, whose
 * "processes" are all of root's, so plain userdel refuses.
 */
function removeAccountCommands(accounts: Accounts, e: PasswdEntry): string {
  const home = normalizePath(e.home || '/');
  const shared = SHARED_HOMES.test(home) || (accounts.homeUsers.get(home) ?? 0) > 1;
  const flags = [e.uid === 0 ? '-f' : '', shared ? '' : '-r'].filter(Boolean).join(' ');
  const lines = [unlockLine(accounts).trimEnd()];
  if (e.uid !== 0) lines.push(`pkill -KILL -u ${shellQuote(e.name)}   # userdel refuses while it runs processes`);
  lines.push(`userdel ${flags ? `${flags} ` : ''}${shellQuote(e.name)}${shared ? `   # its home ${home} is shared or a system directory: not removed` : ''}`);
  return lines.filter(Boolean).join('\n');
}

// ---------------------------------------------------------------------------------
// administrator groups
// ---------------------------------------------------------------------------------

async function reportAdminGroups(ctx: CheckContext, accounts: Accounts, sysUidMax: number): Promise<void> {
  const text = await readText(ctx, GROUP, ACCOUNT_FILE_READ);
  if (text === undefined) return;
  const byName = new Map(accounts.passwd.map((e) => [e.name, e]));
  textLines(text).forEach(({ text: raw, line: n }) => {
    const f = raw.split(':');
    if (f.length < 4 || !ADMIN_GROUPS.has(f[0]!)) return;
    const group = f[0]!;
    for (const member of f[3]!.split(',').map((m) => m.trim()).filter(Boolean)) {
      if (member === 'root') continue;
      const account = byName.get(member);
      const system = account !== undefined && account.uid !== 0 && (account.uid <= sysUidMax || account.uid === NOBODY_UID);
      const fix = `${accounts.locked.includes(GROUP) ? `${chattrUnlock([GROUP])}\n` : ''}gpasswd -d ${shellQuote(member)} ${shellQuote(group)}`;
      const vars = { name: member, group, uid: account?.uid ?? 'unknown (not in /etc/passwd)', fix };
      const rule = system ? 'accounts.system-account-admin-group' : 'accounts.admin-group-member';
      ctx.report(ctx.rules.finding(rule, { path: GROUP, line: n, evidence: raw, vars, category: CATEGORY }));
    }
  });
}

// ---------------------------------------------------------------------------------
// the logs
// ---------------------------------------------------------------------------------

interface LoggedEvent extends AccountEvent {
  path: string;
}

async function reportLoggedChanges(ctx: CheckContext, accounts: Accounts): Promise<void> {
  const events: LoggedEvent[] = [];
  for (const path of await accountLogs(ctx.vfs, (p, e) => ctx.error(p, e))) {
    try {
      const log = await readLogBounded(ctx.vfs, path);
      ctx.examined(path);
      for (const chunk of log.chunks) {
        for (const e of parseAccountEvents(chunk)) events.push({ ...e, path });
        reportContentRules(ctx, path, chunk.text, chunk.firstLine);
      }
    } catch (err) {
      ctx.error(path, err);
    }
  }
  const deleted = new Set(events.filter((e) => e.kind === 'deleted').map((e) => e.name));
  const current = new Map(accounts.passwd.map((e) => [e.name, e]));
  const reported = new Set<string>();
  for (const event of events) {
    if (event.kind === 'deleted') continue;
    // The audit log and syslog both record one useradd: report the first, which names the uid.
    const key = `${event.kind}\0${event.name}\0${event.uid ?? current.get(event.name)?.uid}\0${event.path}\0${event.line ?? event.text}`;
    if (reported.has(key)) continue;
    reported.add(key);
    reportEvent(ctx, accounts, event, current.get(event.name), deleted.has(event.name));
  }
}

function reportEvent(ctx: CheckContext, accounts: Accounts, event: LoggedEvent, now: PasswdEntry | undefined, deletionLogged: boolean): void {
  const uid = event.uid ?? now?.uid;
  const gone = accounts.passwdPresent && !now;
  const why = [
    uid === 0 ? ' (a second root)' : '',
    gone ? (deletionLogged ? ' (deleted since, as the log records)' : ' (no longer in /etc/passwd, and no deletion is logged)') : '',
  ].join('');
  const when = event.time ? ` at ${event.time}` : '';
  const log = `${event.path}${event.line !== undefined ? `:${event.line}` : ' (line unknown: in the tail of a large log)'}`;
  const what = event.kind === 'uid-changed' ? `usermod changed its uid to ${event.uid}` : `${event.source} created it`;
  const where = `${log} (${what}${when})`;
  const fix = now ? removeAccountCommands(accounts, now) : `# ${event.name} is no longer in ${PASSWD}; look for its home, crontab and SSH keys`;
  const vars = {
    name: event.name,
    uid: uid ?? 'unknown',
    fromUid: event.fromUid,
    source: event.source,
    time: event.time || 'an unknown time',
    why,
    where,
    log,
    fix,
    home: event.home ?? now?.home ?? 'unknown',
    shell: event.shell ?? now?.shell ?? 'unknown',
  };
  const input = { path: event.path, line: event.line, evidence: event.text, vars, category: CATEGORY };
  const named = ctx.rules.matchName('account', event.name);
  for (const rule of named) ctx.report(ctx.rules.finding(rule, input));
  if (event.kind === 'uid-changed') {
    if (event.uid === 0) ctx.report(ctx.rules.finding('accounts.uid-changed-to-0', input));
    return;
  }
  if (uid === 0) ctx.report(ctx.rules.finding('accounts.created-suspicious', input));
  else if (named.length > 0) return;
  else if (gone && !deletionLogged) ctx.report(ctx.rules.finding('accounts.created-then-removed', input));
  else ctx.report(ctx.rules.finding('accounts.created', input));
}

/** Content rules of the auth-log scope (none are built in; --rules packs may add them). */
function reportContentRules(ctx: CheckContext, path: string, text: string, firstLine: number | undefined): void {
  for (const hit of ctx.rules.matchLines('auth-log', path, text)) {
    const line = firstLine !== undefined ? firstLine + hit.line - 1 : undefined;
    ctx.report(ctx.rules.finding(hit.rule, { path, line, evidence: hit.text, vars: { name: hit.match }, category: CATEGORY }));
  }
}
