/**
 * Accounts an attacker adds or changes to keep access: a second uid-0 account, names
 * known from intrusions, system accounts given a shell and a password, empty passwords,
 * and the account creations the logs recorded.
 */
import type { Check, CheckContext } from '../engine/check.js';
import { hasUsablePassword, isLoginShell } from '../facts/passwd.js';
import { ACCOUNT_LOGS, readAccountCreations } from '../facts/account-log.js';

const LOGIN_DEFS = '/etc/login.defs';
const DEFAULT_SYS_UID_MAX = 999;

export const accountsCheck: Check = {
  id: 'accounts',
  description: 'Extra root accounts, known malicious accounts, system accounts with logins, account creation in logs',
  paths: ['/etc/passwd', '/etc/shadow', LOGIN_DEFS, ...ACCOUNT_LOGS],
  async run(ctx) {
    const passwd = await ctx.facts.passwd();
    const shadow = await ctx.facts.shadow();
    if (passwd.entries.length + passwd.malformedLines.length > 0) ctx.examined('/etc/passwd');
    if (shadow.entries.length > 0) ctx.examined('/etc/shadow');
    const sysUidMax = await systemUidMax(ctx);
    const hashes = new Map(shadow.entries.map((e) => [e.name, e.hash]));

    for (const line of passwd.malformedLines) {
      ctx.report(ctx.rules.finding('accounts.malformed-line', { path: '/etc/passwd', line, evidence: `line ${line}` }));
    }
    for (const e of passwd.entries) {
      const input = { path: '/etc/passwd', line: e.line, evidence: `${e.name}:${e.password}:${e.uid}:${e.gid}:${e.gecos}:${e.home}:${e.shell}`, vars: { name: e.name, uid: e.uid, home: e.home, shell: e.shell } };
      for (const rule of ctx.rules.matchName('account', e.name)) ctx.report(ctx.rules.finding(rule, input));
      if (e.uid === 0 && e.name !== 'root') ctx.report(ctx.rules.finding('accounts.extra-uid0', input));
      const hash = e.password === 'x' ? hashes.get(e.name) : e.password;
      if (e.password === '' || (e.password === 'x' && hash === '')) {
        ctx.report(ctx.rules.finding('accounts.empty-password', { ...input, path: e.password === '' ? '/etc/passwd' : '/etc/shadow' }));
      } else if (e.uid !== 0 && e.uid <= sysUidMax && e.uid !== 65534 && isLoginShell(e.shell) && hash !== undefined && hasUsablePassword(hash)) {
        ctx.report(ctx.rules.finding('accounts.system-account-login', input));
      }
    }

    const known = new Set(passwd.entries.map((e) => e.name));
    for (const c of await readAccountCreations(ctx.vfs, (p, err) => ctx.error(p, err))) {
      ctx.examined(c.path);
      const line = Number.isFinite(c.line) ? c.line : undefined;
      const bad = ctx.rules.matchName('account', c.name).length > 0;
      const why = [c.uid === 0 ? ' (a second root)' : '', bad ? ' (a name intrusions use)' : '', !known.has(c.name) ? ' (no longer in /etc/passwd)' : ''].join('');
      const rule = c.uid === 0 || bad ? 'accounts.created-suspicious' : 'accounts.created';
      ctx.report(ctx.rules.finding(rule, { path: c.path, line, evidence: c.text, vars: { name: c.name, uid: c.uid ?? '?', why } }));
    }
  },
};

/** SYS_UID_MAX from login.defs, else UID_MIN - 1, else Debian's 999. */
async function systemUidMax(ctx: CheckContext): Promise<number> {
  try {
    if (!(await ctx.vfs.exists(LOGIN_DEFS))) return DEFAULT_SYS_UID_MAX;
    const text = (await ctx.vfs.readFile(LOGIN_DEFS, { maxBytes: 256 << 10 })).toString('utf8');
    const value = (key: string) => {
      const m = new RegExp(`^\\s*${key}\\s+(\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    return value('SYS_UID_MAX') ?? ((value('UID_MIN') ?? DEFAULT_SYS_UID_MAX + 1) - 1);
  } catch (err) {
    ctx.error(LOGIN_DEFS, err);
    return DEFAULT_SYS_UID_MAX;
  }
}
