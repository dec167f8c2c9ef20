/**
 * What the dpkg reader needs from /var/lib/dpkg/status (dpkg(1) "FILES",
 * deb-conffiles(5)): which packages dpkg knows, and per package the `Conffiles:` field,
 * whose continuation lines are " <path> <md5> [obsolete|remove-on-upgrade]". Entries of
 * the journal dpkg has not folded into the status file yet (/var/lib/dpkg/updates/NNNN,
 * same format) count too. The status file also holds every description, so it is
 * streamed line by line; only package names and conffile lines are kept.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';
import { packagePath } from './package-path.js';
import { describeSkips, noSkips, vfsLines, type LineLimits } from './vfs-lines.js';

export const DPKG_STATUS = '/var/lib/dpkg/status';
export const DPKG_UPDATES = '/var/lib/dpkg/updates';
/** dpkg folds the journal in after every run: more than a handful means a broken dpkg, thousands junk. */
const MAX_UPDATES = 1000;
/** A server with thousands of packages has a status file of a few MiB. */
const LIMITS: LineLimits = { maxBytes: 64 << 20, maxLineBytes: 64 << 10 };
const MD5 = /^[0-9a-f]{32}$/i;
const FLAGS = new Set(['obsolete', 'remove-on-upgrade']);

/** Conffile md5 by path, by package name (architecture qualifier dropped); undefined md5 for "newconffile". */
export type StatusConffiles = Map<string, Map<string, string | undefined>>;

export interface DpkgStatus {
  /** Every package dpkg has a record of, whatever its state. */
  packages: Set<string>;
  /** False when a read bound cut a status file: then a package missing from `packages` proves nothing. */
  complete: boolean;
  conffiles: StatusConffiles;
}

type OnError = (path: string, err: unknown) => void;

/** The status file and its pending journal; undefined when there is no status file. */
export async function readDpkgStatus(vfs: Vfs, onError: OnError): Promise<DpkgStatus | undefined> {
  const status: DpkgStatus = { packages: new Set(), conffiles: new Map(), complete: true };
  if (!(await readStatusFile(vfs, DPKG_STATUS, status, onError))) return undefined;
  let journal: string[] = [];
  try {
    journal = (await vfs.readdir(DPKG_UPDATES)).filter((e) => e.type === 'file' && /^\d+$/.test(e.name)).map((e) => e.name);
  } catch (err) {
    if (!isNotFound(err)) onError(DPKG_UPDATES, err);
  }
  if (journal.length > MAX_UPDATES) onError(DPKG_UPDATES, new Error(`dpkg journal: ${journal.length} entries; only the first ${MAX_UPDATES} were read`));
  for (const name of journal.sort().slice(0, MAX_UPDATES)) await readStatusFile(vfs, `${DPKG_UPDATES}/${name}`, status, onError);
  return status;
}

/** Adds one status-format file to `into`; false when it does not exist. */
async function readStatusFile(vfs: Vfs, file: string, into: DpkgStatus, onError: OnError): Promise<boolean> {
  const out = into.conffiles;
  const skips = noSkips();
  let pkg: string | undefined;
  let inConffiles = false;
  let bad = 0;
  try {
    for await (const { text } of vfsLines(vfs, file, LIMITS, skips)) {
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
      if (field === 'package') {
        pkg = text.slice(colon + 1).trim().replace(/:.*$/, '') || undefined;
        if (pkg) into.packages.add(pkg);
      }
      else if (field === 'conffiles') inConffiles = true;
    }
  } catch (err) {
    if (isNotFound(err)) return false;
    onError(file, err);
    into.complete = false;
    return true;
  }
  if (skips.cut) into.complete = false;
  const said = [bad > 0 ? `${bad} Conffiles line(s) that are not "<path> <md5>"` : '', describeSkips(skips, LIMITS)].filter(Boolean).join('; ');
  if (said) onError(file, new Error(`dpkg status: ${said}`));
  return true;
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
