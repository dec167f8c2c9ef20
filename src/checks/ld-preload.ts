/**
 * /etc/ld.so.preload: every library it names is loaded into every dynamically linked
 * program, which is how userland rootkits (Kinsing's libsystem.so among them) hide a
 * miner from ps, top and ls. The file is absent on almost every server.
 *
 * Parsed as glibc's rtld does: entries are separated by spaces, tabs, newlines or
 * colons, and `#` starts a comment that runs to the end of the line. An entry with a
 * `/` is a path (with $LIB / $PLATFORM expanded); one without is searched for in the
 * library directories (/etc/ld.so.conf and the defaults).
 *
 * Every entry gives one finding: a family rule on its base name (preload-library
 * scope) when one matches, else missing library (high), library no package owns (high)
 * or, for a packaged library or when there is no package database, the plain entry
 * (medium). Each library found is recorded as started, so the hash check hashes it.
 */
import type { Check, CheckContext } from '../engine/check.js';
import { readText } from './shared/read-text.js';
import type { InodeFlags, Vfs } from '../../mountfs/vfs.js';
import { basename, dirname, joinPath, normalizePath } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { compileGlob } from '../../mountfs/glob.js';
import { shellQuote } from '../rules/ruleset.js';
import { flagWords, flagsOf, unlockPrefix } from './shared/unlock.js';
import { showLine } from './shared/command-remediation.js';
import { packageOwner } from './shared/config-files.js';
import { readWholeText, type WholeText, textLines } from '../facts/vfs-lines.js';

export const PRELOAD = '/etc/ld.so.preload';
const LD_SO_CONF = '/etc/ld.so.conf';
/** What the library search reads besides the preload file. */
export const LIBRARY_PATH_CONFIG = [LD_SO_CONF, '/etc/ld.so.conf.d/*'];
/** Real preload files name a few libraries; junk must not cost thousands of lookups. */
const MAX_ENTRIES = 256;
const CATEGORY = 'persistence/preload';
/** Where ld.so looks for a bare library name when ld.so.conf adds nothing (trusted directories). */
const DEFAULT_LIBRARY_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib32', '/usr/lib32'];
const MULTIARCH = ['x86_64-linux-gnu', 'aarch64-linux-gnu', 'i386-linux-gnu', 'arm-linux-gnueabihf', 'powerpc64le-linux-gnu', 's390x-linux-gnu', 'riscv64-linux-gnu'];
/** $LIB and $PLATFORM, as ld.so expands them on the usual architectures. */
const DST_VALUES: Record<string, string[]> = {
  LIB: ['lib', 'lib64', 'lib32', ...MULTIARCH.map((t) => `lib/${t}`)],
  PLATFORM: ['x86_64', 'haswell', 'xeon_phi', 'i686', 'aarch64'],
};

export interface PreloadEntry {
  /** The entry as written. */
  name: string;
  /** 1-based line of the file it is on. */
  line: number;
  /** The whole line, for remediation. */
  lineText: string;
  /** How many entries share the line (a `sed 'Nd'` would remove them all). */
  onLine: number;
}

/**
 * ld.so.preload as glibc reads it: every byte, so an entry after megabytes of comment
 * or blank padding is still seen; comments are kept short, and past the content cap
 * the unread rest is in `unread`.
 */
export function readPreloadText(vfs: Vfs): Promise<WholeText> {
  return readWholeText(vfs, PRELOAD, { commentChars: '#' });
}

/** Entries of ld.so.preload in file order. */
export function parsePreload(text: string): PreloadEntry[] {
  const out: PreloadEntry[] = [];
  text.split('\n').forEach((lineText, i) => {
    const hash = lineText.indexOf('#');
    const names = (hash < 0 ? lineText : lineText.slice(0, hash)).split(/[ \t:]+/).filter((n) => n !== '');
    for (const name of names) out.push({ name, line: i + 1, lineText, onLine: names.length });
  });
  return out;
}

export const ldPreloadCheck: Check = {
  id: 'ld-preload',
  persistence: true,
  description: 'Libraries forced into every program by /etc/ld.so.preload',
  // The libraries themselves are only looked up (stat); the hash check reads them.
  paths: [PRELOAD, ...LIBRARY_PATH_CONFIG],
  async run(ctx) {
    const text = await readText(ctx, PRELOAD, { commentChars: '#' });
    if (text === undefined) return;
    for (const hit of ctx.rules.matchLines('preload', PRELOAD, text)) {
      ctx.report(ctx.rules.finding(hit.rule, { path: PRELOAD, line: hit.line, evidence: hit.text, vars: { name: hit.match } }));
    }
    const entries = parsePreload(text);
    if (entries.length === 0) return;
    const fileFlags = await flagsOf(ctx.vfs, PRELOAD);
    const dirs = await librarySearchDirs(ctx.vfs, (p, e) => ctx.error(p, e));
    for (const entry of entries.slice(0, MAX_ENTRIES)) await judgeEntry(ctx, entry, fileFlags, dirs);
    if (entries.length > MAX_ENTRIES) {
      ctx.error(PRELOAD, new Error(`${entries.length} entries: only the first ${MAX_ENTRIES} were examined (the file is not a list of libraries any more)`));
    }
  },
};

async function judgeEntry(ctx: CheckContext, entry: PreloadEntry, fileFlags: InodeFlags | undefined, dirs: string[]): Promise<void> {
  const where = `${PRELOAD}:${entry.line}`;
  const library = await resolvePreloadEntry(ctx.vfs, entry.name, dirs);
  if (library) ctx.started({ path: library, startedBy: where });
  const owner = library ? await packageOwner(ctx, library) : undefined;
  const libFlags = library && owner === undefined ? await flagsOf(ctx.vfs, library) : undefined;
  const vars = {
    name: entry.name,
    library: library ?? entry.name,
    ownerNote: owner ? ` (from package ${owner})` : owner === null ? ' (no package database tells who installed it)' : '',
    searched: entry.name.includes('/') ? '' : ` (searched ${dirs.join(', ')})`,
    flag: flagWords(fileFlags) ? ` ${PRELOAD} is ${flagWords(fileFlags)}.` : '',
    fix: fixCommands(entry, fileFlags, library !== undefined && owner === undefined ? library : undefined, libFlags),
  };
  const input = { path: PRELOAD, line: entry.line, evidence: entry.name, vars, category: CATEGORY };
  const family = ctx.rules.matchName('preload-library', basename(entry.name));
  if (family.length > 0) {
    for (const rule of family) ctx.report(ctx.rules.finding(rule, input));
    return;
  }
  const rule = !library ? 'preload.missing-library' : owner === undefined ? 'preload.unowned-library' : 'preload.entry';
  ctx.report(ctx.rules.finding(rule, input));
}

/**
 * The file ld.so would load for the entry, undefined when there is none on the disk.
 * A name with a slash is a path (relative ones are taken from /, where they are
 * meaningless anyway); a bare name is looked up in the search directories.
 */
export async function resolvePreloadEntry(vfs: Vfs, name: string, dirs: string[]): Promise<string | undefined> {
  const candidates = name.includes('/') ? expandDst(name).map(normalizePath) : dirs.map((d) => joinPath(d, name));
  for (const candidate of candidates) {
    try {
      if ((await vfs.stat(candidate)).type === 'file') return candidate;
    } catch {
      // Not there (or a dangling link): ld.so skips it the same way.
    }
  }
  return undefined;
}

/** $LIB, ${LIB}, $PLATFORM, ${PLATFORM} replaced by each value they take. */
function expandDst(name: string): string[] {
  let out = [name];
  for (const [token, values] of Object.entries(DST_VALUES)) {
    const source = `\\$(?:\\{${token}\\}|${token}(?![A-Za-z0-9_]))`;
    const present = new RegExp(source);
    out = out.flatMap((n) => (present.test(n) ? values.map((v) => n.replace(new RegExp(source, 'g'), v)) : [n]));
  }
  return out;
}

/**
 * The library directories: /etc/ld.so.conf with its `include` globs, then the
 * defaults and their multiarch subdirectories.
 */
export async function librarySearchDirs(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<string[]> {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const readConf = async (path: string, depth: number): Promise<void> => {
    if (seen.has(path) || depth > 4) return;
    seen.add(path);
    let text: string;
    try {
      if ((await vfs.stat(path)).type !== 'file') return;
      // ldconfig reads the whole file too.
      const whole = await readWholeText(vfs, path, { commentChars: '#' });
      if (whole.unread) onError(path, whole.unread);
      text = whole.text;
    } catch (err) {
      if (!isNotFound(err)) onError(path, err);
      return;
    }
    for (const { text: raw } of textLines(text)) {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '') continue;
      const include = /^include\s+(.+)$/.exec(line);
      if (include) {
        for (const pattern of include[1]!.split(/\s+/)) {
          const glob = pattern.startsWith('/') ? pattern : joinPath(dirname(path), pattern);
          const matcher = compileGlob(glob);
          const found: string[] = [];
          for await (const e of vfs.walk([glob], { onError })) if (matcher.matches(e.path)) found.push(e.path);
          for (const f of found.sort()) await readConf(f, depth + 1);
        }
        continue;
      }
      if (line.startsWith('hwcap ')) continue;
      for (const d of line.split(/[\s:,=]+/)) if (d.startsWith('/')) dirs.push(normalizePath(d));
    }
  };
  await readConf(LD_SO_CONF, 0);
  dirs.push(...DEFAULT_LIBRARY_DIRS.flatMap((d) => [d, ...MULTIARCH.map((t) => joinPath(d, t))]));
  // Only directories that exist, so a bare name costs a handful of lookups.
  const existing: string[] = [];
  for (const d of new Set(dirs)) {
    try {
      if ((await vfs.stat(d)).type === 'directory') existing.push(d);
    } catch {
      // Absent: nothing to find there.
    }
  }
  return existing;
}

/**
 * Removing the entry: unlock the file when locked, delete the line (or only the entry,
 * when other entries share it), then delete the library when no package owns it. The
 * file is edited before the library goes, so no program starts while it names a
 * missing file.
 */
function fixCommands(entry: PreloadEntry, fileFlags: InodeFlags | undefined, removable: string | undefined, libFlags: InodeFlags | undefined): string {
  const lines: string[] = [];
  const unlock = unlockPrefix(PRELOAD, fileFlags).trimEnd();
  if (unlock) lines.push(unlock);
  if (entry.onLine === 1) {
    lines.push(`sed -i '${entry.line}d' ${PRELOAD}   # deletes line ${entry.line}: ${showLine(entry.lineText)}`);
  } else {
    const delim = ['#', '|', ',', '@', '%', '!'].find((d) => !entry.name.includes(d)) ?? '#';
    const pattern = entry.name.replace(/[\\.*[\]^$]/g, '\\$&');
    lines.push(`sed -i ${shellQuote(`${entry.line}s${delim}${pattern}${delim}${delim}`)} ${PRELOAD}   # removes only this entry from line ${entry.line}`);
  }
  if (removable) {
    const unlockLib = unlockPrefix(removable, libFlags).trimEnd();
    if (unlockLib) lines.push(unlockLib);
    lines.push(`rm -f ${shellQuote(removable)}   # no package owns it`);
  }
  return lines.join('\n');
}
