/**
 * What the dynamic linker is told to load and where it looks, as glibc reads it: the
 * libraries /etc/ld.so.preload forces into every program, and the library directories
 * of /etc/ld.so.conf with its includes. The ld-preload, immutable-files and
 * package-integrity checks all need them: Facts.preloadFile and Facts.librarySearchDirs
 * read them once; the parsing and the lookup of an entry are here.
 *
 * ld.so.preload (glibc's rtld): entries are separated by spaces, tabs, newlines or
 * colons, and `#` starts a comment that runs to the end of the line. An entry with a `/`
 * is a path (with $LIB / $PLATFORM expanded); one without is searched for in the
 * library directories (/etc/ld.so.conf and the defaults).
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { dirname, joinPath, normalizePath } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { compileGlob } from '../../mountfs/glob.js';
import { readWholeText, textLines, type WholeText } from './vfs-lines.js';

export const PRELOAD = '/etc/ld.so.preload';
const LD_SO_CONF = '/etc/ld.so.conf';
/** What the library search reads besides the preload file. */
export const LIBRARY_PATH_CONFIG = [LD_SO_CONF, '/etc/ld.so.conf.d/*'];
/** Where ld.so looks for a bare library name when ld.so.conf adds nothing (trusted directories). */
const DEFAULT_LIBRARY_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib32', '/usr/lib32'];
const MULTIARCH = ['x86_64-linux-gnu', 'aarch64-linux-gnu', 'i386-linux-gnu', 'arm-linux-gnueabihf', 'powerpc64le-linux-gnu', 's390x-linux-gnu', 'riscv64-linux-gnu'];
/** $LIB and $PLATFORM, as ld.so expands them on the usual architectures. */
const DST_VALUES: Record<string, string[]> = {
  LIB: ['lib', 'lib64', 'lib32', ...MULTIARCH.map((t) => `lib/${t}`)],
  PLATFORM: ['x86_64', 'haswell', 'xeon_phi', 'i686', 'aarch64'],
};

/** How ld.so.preload is read: every byte, as glibc does, comment lines kept short. */
export const PRELOAD_READ = { commentChars: '#' } as const;

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
  return readWholeText(vfs, PRELOAD, PRELOAD_READ);
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
