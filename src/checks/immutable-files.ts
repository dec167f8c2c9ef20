/**
 * Files locked with chattr +i (immutable) or +a (append-only) where persistence lives:
 * crontabs, units, init scripts, the preload file, account files, SSH keys and system
 * commands. Attackers lock their work so that cleaning it fails; an operator must clear
 * the flag first. Only those places are examined, never the whole disk.
 */
import type { Check, CheckContext } from '../engine/check.js';
import { joinPath, normalizePath } from '../../mountfs/path.js';
import type { WalkEntry } from '../../mountfs/vfs.js';
import { flagWords } from './flags.js';

const CRON_DIRS = ['/etc/cron.d', '/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly', '/etc/cron.monthly', '/var/spool/cron', '/var/spool/cron/crontabs'];
const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const BIN_DIRS = ['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];

export const PERSISTENCE_PLACES = [
  '/etc/crontab',
  '/etc/anacrontab',
  ...CRON_DIRS,
  ...CRON_DIRS.map((d) => `${d}/*`),
  ...UNIT_DIRS,
  ...UNIT_DIRS.map((d) => `${d}/*`),
  '/etc/systemd/system/*/*',
  '/etc/rc.local',
  '/etc/rc.d/rc.local',
  '/etc/inittab',
  '/etc/init.d',
  '/etc/init.d/*',
  '/etc/ld.so.preload',
  '/etc/passwd',
  '/etc/shadow',
  '/etc/group',
  '/etc/gshadow',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/sudoers.d/*',
  '/root/.ssh',
  '/root/.ssh/*',
  '/home/*/.ssh',
  '/home/*/.ssh/*',
  ...BIN_DIRS.map((d) => `${d}/*`),
];

export const immutableFilesCheck: Check = {
  id: 'immutable-files',
  description: 'Files in persistence places locked with chattr +i or +a',
  paths: [],
  async run(ctx) {
    const globs = [...PERSISTENCE_PLACES, ...(await extraHomes(ctx)), ...(await preloadedLibraries(ctx))];
    const seen = new Set<string>();
    for await (const entry of ctx.vfs.walk(globs, { onError: (p, e) => ctx.error(p, e) })) {
      if (seen.has(entry.path) || entry.stat.type === 'symlink') continue;
      seen.add(entry.path);
      await judge(ctx, entry);
    }
  },
};

async function judge(ctx: CheckContext, entry: WalkEntry): Promise<void> {
  let flags = entry.stat.flags;
  if (!flags) {
    try {
      flags = await ctx.vfs.flags(entry.path);
    } catch (err) {
      ctx.error(entry.path, err);
      return;
    }
  }
  const flag = flagWords(flags);
  if (!flag) return;
  const rule = entry.stat.type === 'directory' ? 'immutable.locked-directory' : 'immutable.locked-file';
  ctx.report(ctx.rules.finding(rule, { path: entry.path, evidence: flag, vars: { flag } }));
}

/** SSH directories of homes outside /home (service accounts, /var/lib/...). */
async function extraHomes(ctx: CheckContext): Promise<string[]> {
  const passwd = await ctx.facts.passwd();
  const globs: string[] = [];
  for (const e of passwd.entries) {
    const home = normalizePath(e.home || '/');
    if (home === '/' || home === '/root' || /^\/home\/[^/]+$/.test(home)) continue;
    const ssh = joinPath(home, '.ssh');
    globs.push(escapeGlob(ssh), `${escapeGlob(ssh)}/*`);
  }
  return globs;
}

async function preloadedLibraries(ctx: CheckContext): Promise<string[]> {
  try {
    if (!(await ctx.vfs.exists('/etc/ld.so.preload'))) return [];
    const text = (await ctx.vfs.readFile('/etc/ld.so.preload', { maxBytes: 64 << 10 })).toString('utf8');
    return text.replace(/#.*/g, '').split(/[\s:]+/).filter((p) => p.startsWith('/')).map((p) => escapeGlob(normalizePath(p)));
  } catch {
    return [];
  }
}

/** A literal path as a glob: picomatch's special characters escaped. */
function escapeGlob(path: string): string {
  return path.replace(/[*?[\]{}()!+@\\]/g, '\\$&');
}
