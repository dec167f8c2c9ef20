/**
 * SSH keys that open a login: authorized_keys and authorized_keys2 of root and of every
 * home in /etc/passwd. Every key is reported at info level (an inventory an operator can
 * compare against who should have access); keys known to belong to intrusions, keys in
 * files locked with chattr, foreign owners and malformed lines are raised.
 */
import type { Check, CheckContext } from '../engine/check.js';
import { joinPath, normalizePath } from '../../mountfs/path.js';
import { parseAuthorizedKeys } from '../facts/authorized-keys.js';
import { flagWords, unlockPrefix } from './flags.js';

const KEY_FILES = ['authorized_keys', 'authorized_keys2'];
const MAX_KEY_FILE = 1 << 20;

export const sshKeysCheck: Check = {
  id: 'ssh-keys',
  description: 'Keys in authorized_keys of root and every account',
  paths: ['/root/.ssh/authorized_keys*', '/home/*/.ssh/authorized_keys*', '/etc/passwd'],
  async run(ctx) {
    const passwd = await ctx.facts.passwd();
    const homes = new Map<string, { user: string; uid: number }>();
    homes.set('/root', { user: 'root', uid: 0 });
    for (const e of passwd.entries) {
      const home = normalizePath(e.home || '/');
      if (home !== '/' && !homes.has(home)) homes.set(home, { user: e.name, uid: e.uid });
    }
    const seen = new Set<string>();
    for (const [home, owner] of homes) {
      for (const name of KEY_FILES) {
        const path = joinPath(joinPath(home, '.ssh'), name);
        let real: string;
        try {
          if (!(await ctx.vfs.exists(path))) continue;
          real = await ctx.vfs.realpath(path);
        } catch (err) {
          ctx.error(path, err);
          continue;
        }
        // Two accounts sharing a home (or a link) must not report the same file twice.
        if (seen.has(real)) continue;
        seen.add(real);
        await checkKeyFile(ctx, path, owner);
      }
    }
  },
};

async function checkKeyFile(ctx: CheckContext, path: string, owner: { user: string; uid: number }): Promise<void> {
  let text: string;
  let st;
  try {
    st = await ctx.vfs.stat(path);
    if (st.type !== 'file') return;
    text = (await ctx.vfs.readFile(path, { maxBytes: MAX_KEY_FILE })).toString('utf8');
  } catch (err) {
    ctx.error(path, err);
    return;
  }
  ctx.examined(path);
  const flags = st.flags ?? (await ctx.vfs.flags(path).catch(() => undefined));
  const unlock = unlockPrefix(path, flags);
  const { keys, malformed } = parseAuthorizedKeys(text);
  for (const key of keys) {
    const vars = {
      user: owner.user,
      type: key.type,
      fingerprint: key.fingerprint,
      comment: key.comment || 'no comment',
      options: key.options.length ? ` with options ${key.options.join(',')}` : '',
      unlock,
    };
    const input = { path, line: key.line, evidence: key.text, vars };
    const bad = [...ctx.rules.matchName('ssh-key-comment', key.comment), ...ctx.rules.matchName('ssh-key-fingerprint', key.fingerprint)];
    for (const rule of bad) ctx.report(ctx.rules.finding(rule, input));
    ctx.report(ctx.rules.finding('ssh.authorized-key', input));
  }
  for (const m of malformed) ctx.report(ctx.rules.finding('ssh.malformed-line', { path, line: m.line, evidence: m.text }));
  const flag = flagWords(flags);
  if (flag && keys.length > 0) {
    ctx.report(ctx.rules.finding('ssh.key-in-locked-file', { path, evidence: `${flag}; ${keys.length} key(s)`, vars: { flag, count: keys.length } }));
  }
  if (st.uid !== owner.uid && st.uid !== 0) {
    ctx.report(ctx.rules.finding('ssh.foreign-owner', { path, evidence: `owner uid ${st.uid}`, vars: { owner: st.uid, user: owner.user, uid: owner.uid } }));
  }
}
