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
 * The places are the checks' own (Check.watched, handed over by the engine as
 * ctx.watchedPlaces()), so a new persistence check's place is watched as soon as the
 * check declares it. Only those places are looked at, never the whole disk. Flags come from the inode on
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

const MAX_PRELOAD_ENTRIES = 256;

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
    const watched = ctx.watchedPlaces();
    const places: CompiledPlace[] = watched.map((p) => ({ what: p.what, globs: p.globs.map(compileGlob) }));
    const globs = watched.flatMap((p) => p.globs);
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
