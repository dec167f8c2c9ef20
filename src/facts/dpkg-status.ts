/**
 * The conffiles dpkg recorded in /var/lib/dpkg/status (deb-conffiles(5), dpkg(1)
 * "FILES"): per package, a `Conffiles:` field whose continuation lines are
 * " <path> <md5> [obsolete|remove-on-upgrade]". The status file also holds every
 * description, so it is streamed line by line; only the conffile lines are kept.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';
import { packagePath } from './package-path.js';
import { describeSkips, noSkips, vfsLines, type LineLimits } from './vfs-lines.js';

export const DPKG_STATUS = '/var/lib/dpkg/status';
/** A server with thousands of packages has a status file of a few MiB. */
const LIMITS: LineLimits = { maxBytes: 64 << 20, maxLineBytes: 64 << 10 };
const MD5 = /^[0-9a-f]{32}$/i;
const FLAGS = new Set(['obsolete', 'remove-on-upgrade']);

/** Conffile md5 by path, by package name (architecture qualifier dropped); undefined md5 for "newconffile". */
export type StatusConffiles = Map<string, Map<string, string | undefined>>;

export async function readStatusConffiles(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<StatusConffiles> {
  const out: StatusConffiles = new Map();
  const skips = noSkips();
  let pkg: string | undefined;
  let inConffiles = false;
  let bad = 0;
  try {
    for await (const { text } of vfsLines(vfs, DPKG_STATUS, LIMITS, skips)) {
      if (text === '') {
        pkg = undefined;
        inConffiles = false;
        continue;
      }
      if (text.startsWith(' ') || text.startsWith('\t')) {
        if (!inConffiles || pkg === undefined) continue;
        const entry = parseConffileLine(text.trim());
        if (!entry) {
          bad++;
          continue;
        }
        let files = out.get(pkg);
        if (!files) out.set(pkg, (files = new Map()));
        files.set(entry.path, entry.md5);
        continue;
      }
      inConffiles = false;
      const colon = text.indexOf(':');
      if (colon <= 0) continue;
      const field = text.slice(0, colon).toLowerCase();
      if (field === 'package') pkg = text.slice(colon + 1).trim().replace(/:.*$/, '') || undefined;
      else if (field === 'conffiles') inConffiles = true;
    }
  } catch (err) {
    if (!isNotFound(err)) onError(DPKG_STATUS, err);
    return out;
  }
  const said = [bad > 0 ? `${bad} Conffiles line(s) that are not "<path> <md5>"` : '', describeSkips(skips, LIMITS)].filter(Boolean).join('; ');
  if (said) onError(DPKG_STATUS, new Error(`dpkg status: ${said}`));
  return out;
}

/** "<path> <md5> [flag]"; the path may hold spaces, so it is everything before the md5. */
function parseConffileLine(line: string): { path: string; md5: string | undefined } | undefined {
  const words = line.split(' ');
  if (words.length >= 3 && FLAGS.has(words[words.length - 1]!)) words.pop();
  if (words.length < 2) return undefined;
  const hash = words.pop()!;
  const raw = words.join(' ');
  const path = raw.startsWith('/') ? packagePath(raw) : undefined;
  if (!path) return undefined;
  if (MD5.test(hash)) return { path, md5: hash.toLowerCase() };
  // dpkg writes "newconffile" for a conffile it has not installed yet.
  return hash === 'newconffile' ? { path, md5: undefined } : undefined;
}
