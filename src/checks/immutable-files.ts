/**
 * Files locked with chattr +i (immutable) or +a (append-only) in the places the
 * persistence checks read: crontabs and cron directories, systemd unit directories,
 * user units and generators, rc.local / inittab / init scripts, cloud-init, at spools, shell
 * start-up files, udev rules, module loading, sshd_config, /etc/hosts, the dynamic
 * linker's preload file and the libraries it names, the account files, sudoers, every
 * home's ~/.ssh and its authorized_keys, and the system command directories. Miner kits lock their cron
 * lines, keys, accounts and wrappers this way so that cleaning fails; whatever else is
 * wrong with a file, the operator must clear the flag first.
 *
 * A locked file is high. A locked directory is medium: by itself it only stops entries
 * from being added, renamed or removed (the files in it are reported on their own), and
 * it is as often the leftover of a recursive lock as the lock that matters.
 *
 * Only those places are looked at, never the whole disk. Flags come from the inode on
 * filesystem images and from lsattr (once per directory) on a mounted directory; a
 * symlink is judged by the file it leads to.
 */
import type { Check, CheckContext } from '../model/check.js';
import type { InodeFlags, Stat } from '../../mountfs/vfs.js';
import { joinPath } from '../../mountfs/path.js';
import { compileGlob, type CompiledGlob } from '../../mountfs/glob.js';
import { isNotFound } from '../../mountfs/errors.js';
import { flagWords } from './shared/unlock.js';
import { LIBRARY_PATH_CONFIG, PRELOAD, parsePreload, resolvePreloadEntry } from '../facts/ld-so.js';

const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const COMMAND_DIRS = ['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];
const CRON_SCRIPT_DIRS = ['/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly', '/etc/cron.monthly'];
const SPOOL_DIRS = ['/var/spool/cron', '/var/spool/cron/crontabs', '/var/spool/cron/tabs'];
const MAX_PRELOAD_ENTRIES = 256;

interface Place {
  /** What the place is, for the message: "cron job", "systemd unit". */
  what: string;
  globs: string[];
}

/** The places, in the order a path is attributed to them. */
export const WATCHED_PLACES: Place[] = [
  {
    what: 'cron configuration',
    globs: ['/etc/crontab', '/etc/anacrontab', '/etc/cron.allow', '/etc/cron.deny', '/etc/cron.d', '/etc/cron.d/*', ...CRON_SCRIPT_DIRS, ...CRON_SCRIPT_DIRS.map((d) => `${d}/*`), ...SPOOL_DIRS, ...SPOOL_DIRS.map((d) => `${d}/*`)],
  },
  { what: 'systemd unit', globs: UNIT_DIRS.flatMap((d) => [d, `${d}/*`, `${d}/*/*`]) },
  {
    what: 'boot script',
    globs: ['/etc/rc.local', '/etc/inittab', '/etc/init.d', '/etc/init.d/*', '/etc/rc.d', '/etc/rc.d/*', '/etc/rc.d/*/*', '/etc/rc[0-6S].d', '/etc/rc[0-6S].d/*'],
  },
  { what: 'dynamic linker configuration', globs: [PRELOAD, ...LIBRARY_PATH_CONFIG, '/etc/ld.so.conf.d'] },
  { what: 'account database', globs: ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow'] },
  { what: 'sudo configuration', globs: ['/etc/sudoers', '/etc/sudoers.d', '/etc/sudoers.d/*'] },
  { what: 'system command', globs: COMMAND_DIRS.flatMap((d) => [d, `${d}/*`]) },
  { what: 'systemd user unit or generator', globs: ['/etc/systemd/user', '/etc/systemd/user/*', '/etc/systemd/user/*/*', '/etc/systemd/system-generators', '/etc/systemd/system-generators/*', '/etc/systemd/user-generators', '/etc/systemd/user-generators/*'] },
  { what: 'cloud-init script or configuration', globs: ['/var/lib/cloud/scripts/per-boot', '/var/lib/cloud/scripts/per-boot/*', '/var/lib/cloud/scripts/per-instance/*', '/var/lib/cloud/scripts/per-once/*', '/etc/cloud/cloud.cfg', '/etc/cloud/cloud.cfg.d', '/etc/cloud/cloud.cfg.d/*'] },
  { what: 'at job', globs: ['/var/spool/cron/atjobs', '/var/spool/cron/atjobs/*', '/var/spool/at', '/var/spool/at/*'] },
  { what: 'shell start-up file', globs: ['/etc/profile', '/etc/profile.d', '/etc/profile.d/*', '/etc/bash.bashrc', '/etc/bashrc', '/etc/environment', '/root/.bashrc', '/root/.profile', '/root/.bash_profile'] },
  { what: 'udev rule', globs: ['/etc/udev/rules.d', '/etc/udev/rules.d/*'] },
  { what: 'kernel module configuration', globs: ['/etc/modules', '/etc/modules-load.d', '/etc/modules-load.d/*', '/etc/modprobe.d', '/etc/modprobe.d/*'] },
  { what: 'SSH server configuration', globs: ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d', '/etc/ssh/sshd_config.d/*'] },
  { what: 'hosts file', globs: ['/etc/hosts'] },
];

interface CompiledPlace {
  what: string;
  globs: CompiledGlob[];
}

export const immutableFilesCheck: Check = {
  id: 'immutable-files',
  ruleIds: ['immutable.locked-directory', 'immutable.locked-file'],
  description: 'Files and directories locked with chattr +i or +a where persistence lives',
  /**
   * What it reads bytes of: the preload file (for the libraries it names), the linker
   * configuration and passwd (for the homes). The watched places themselves need only
   * their metadata, which every source keeps; declaring them would make sources read
   * only once keep all of /usr/bin.
   */
  paths: [PRELOAD, ...LIBRARY_PATH_CONFIG, '/etc/passwd'],
  async run(ctx) {
    const judged = new Set<string>();
    const places: CompiledPlace[] = WATCHED_PLACES.map((p) => ({ what: p.what, globs: p.globs.map(compileGlob) }));
    const globs = WATCHED_PLACES.flatMap((p) => p.globs);
    for await (const entry of ctx.vfs.walk(globs, { onError: (p, e) => ctx.error(p, e) })) {
      const place = places.find((p) => p.globs.some((g) => g.matches(entry.path)));
      if (place) await judge(ctx, entry.path, entry.stat, place.what, judged);
    }
    for (const home of await ctx.facts.loginHomes()) {
      const ssh = joinPath(home.path, '.ssh');
      const owners = home.users.map((u) => u.name).join(', ');
      for (const path of [ssh, joinPath(ssh, 'authorized_keys'), joinPath(ssh, 'authorized_keys2')]) {
        await judgePath(ctx, path, `SSH login keys of ${owners}`, judged);
      }
    }
    for (const library of await preloadedLibraries(ctx)) await judgePath(ctx, library, `library in ${PRELOAD}`, judged);
  },
};

/** A path outside the walked globs: looked up, skipped quietly when absent. */
async function judgePath(ctx: CheckContext, path: string, what: string, judged: Set<string>): Promise<void> {
  let stat: Stat;
  try {
    stat = await ctx.vfs.lstat(path);
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  await judge(ctx, path, stat, what, judged);
}

async function judge(ctx: CheckContext, path: string, lstat: Stat, what: string, judged: Set<string>): Promise<void> {
  let real = path;
  let stat = lstat;
  let flags: InodeFlags | undefined;
  try {
    if (lstat.type === 'symlink') {
      real = await ctx.vfs.realpath(path);
      stat = await ctx.vfs.lstat(real);
    }
    if (stat.type !== 'file' && stat.type !== 'directory') return;
    if (judged.has(real)) return;
    judged.add(real);
    flags = await ctx.vfs.flags(real);
  } catch (err) {
    // A dangling link locks nothing.
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  const flag = flagWords(flags);
  if (!flag) return;
  const via = real !== path ? ` (reached through ${path})` : '';
  const owner = stat.type === 'file' ? await ctx.facts.packages.owner(real) : undefined;
  const restore = owner?.kind === 'owned' ? (await ctx.facts.packageCommands()).reinstall([owner.package], owner.manager) : undefined;
  const vars = {
    flag,
    what: `${what}${via}`,
    restore: restore ? `, or restore it from its package: ${restore}` : '',
  };
  const rule = stat.type === 'directory' ? 'immutable.locked-directory' : 'immutable.locked-file';
  ctx.report(ctx.rules.finding(rule, { path: real, evidence: flag, vars, category: 'integrity' }));
}

/** The files /etc/ld.so.preload names that exist on the disk. */
async function preloadedLibraries(ctx: CheckContext): Promise<string[]> {
  // Whole, as glibc reads it; what it could not read is an error of the fact, recorded once.
  const text = await ctx.facts.preloadFile();
  if (text === undefined) return [];
  const entries = parsePreload(text);
  if (entries.length === 0) return [];
  const dirs = await ctx.facts.librarySearchDirs();
  const out: string[] = [];
  // The ld-preload check reports a file with too many entries; the same cap applies here.
  for (const entry of entries.slice(0, MAX_PRELOAD_ENTRIES)) {
    const library = await resolvePreloadEntry(ctx.vfs, entry.name, dirs);
    if (library) out.push(library);
  }
  return out;
}
