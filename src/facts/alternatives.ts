/**
 * The links the alternatives system manages (/usr/bin/awk -> /etc/alternatives/awk),
 * read from its database: dpkg's /var/lib/dpkg/alternatives/<name> and the chkconfig
 * alternatives of RPM systems, /var/lib/alternatives/<name>. No package lists these
 * links: update-alternatives creates them, so a check that looks for files nobody
 * installed must know them.
 *
 * Format (update-alternatives(1), "ADMINISTRATIVE DIRECTORY"; the same in both tools):
 *   auto|manual
 *   <master link>
 *   <slave name>          \ repeated,
 *   <slave link>          / then an empty line
 *   <alternative> <priority> <slave values>...  (not needed here)
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';
import { packagePath } from './package-path.js';
import { describeSkips, noSkips, vfsLines, type LineLimits } from './vfs-lines.js';

export const ALTERNATIVES_DIRS = ['/var/lib/dpkg/alternatives', '/var/lib/alternatives'];
export const ALTERNATIVES_PATHS = ALTERNATIVES_DIRS.map((d) => `${d}/*`);
/** A server has a few dozen alternatives; thousands of files are not an alternatives database. */
const MAX_FILES = 5000;
/** The links come first; a few KiB hold them even for the biggest groups (java has ~60 slaves). */
const LIMITS: LineLimits = { maxBytes: 256 << 10, maxLineBytes: 4096 };
const MAX_SLAVES = 1000;

export interface AlternativeLink {
  /** The link path, e.g. /usr/bin/awk. */
  link: string;
  /** The alternative group, e.g. "awk". */
  group: string;
}

export async function readAlternativeLinks(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<AlternativeLink[]> {
  const out: AlternativeLink[] = [];
  for await (const entry of vfs.walk(ALTERNATIVES_PATHS, { maxEntries: MAX_FILES * 2, onError })) {
    if (entry.stat.type !== 'file') continue;
    const group = entry.path.slice(entry.path.lastIndexOf('/') + 1);
    try {
      out.push(...(await readGroup(vfs, entry.path, group, onError)));
    } catch (err) {
      if (!isNotFound(err)) onError(entry.path, err);
    }
  }
  return out;
}

async function readGroup(vfs: Vfs, path: string, group: string, onError: (path: string, err: unknown) => void): Promise<AlternativeLink[]> {
  const links: AlternativeLink[] = [];
  const skips = noSkips();
  // Line 2 is the master link, then name/link pairs up to the first empty line.
  let index = 0;
  let bad = 0;
  for await (const { text } of vfsLines(vfs, path, LIMITS, skips)) {
    index++;
    if (index === 1) continue;
    if (text === '') break;
    if (index % 2 === 0) {
      const link = packagePath(text);
      if (link && text.startsWith('/')) links.push({ link, group });
      else bad++;
      if (links.length > MAX_SLAVES) break;
    }
  }
  const skipped = describeSkips(skips, LIMITS);
  if (bad > 0 || skips.longLines > 0) {
    onError(path, new Error(`alternatives database: ${[bad > 0 ? `${bad} link(s) that are not absolute paths` : '', skipped].filter(Boolean).join('; ')}`));
  }
  return links;
}
