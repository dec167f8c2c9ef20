/**
 * dpkg's diversions, /var/lib/dpkg/diversions (dpkg-divert(1)): a package, or the admin
 * (":" for a local diversion), moved another package's file aside, so the packaged
 * bytes live at the divert-to path and the original path holds something else by
 * design. The file is triples of lines: the diverted path, where it went, and who
 * diverted it.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';
import { packagePath } from './package-path.js';
import { describeSkips, noSkips, vfsLines, type LineLimits } from './vfs-lines.js';

export const DIVERSIONS = '/var/lib/dpkg/diversions';
/** A system has a handful; 1 MiB holds thousands. */
const LIMITS: LineLimits = { maxBytes: 1 << 20, maxLineBytes: 4096 };
export const LOCAL_DIVERSION = ':';

export interface Diversion {
  from: string;
  to: string;
  /** The diverting package, ":" for the admin's own (dpkg-divert --local). */
  by: string;
}

/** Diversions by diverted path; empty when the file is missing. */
export async function readDiversions(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<Map<string, Diversion>> {
  const out = new Map<string, Diversion>();
  const skips = noSkips();
  let bad = 0;
  let triple: string[] = [];
  try {
    for await (const { text } of vfsLines(vfs, DIVERSIONS, LIMITS, skips)) {
      triple.push(text);
      if (triple.length < 3) continue;
      const [fromText, toText, by] = triple as [string, string, string];
      triple = [];
      const from = fromText.startsWith('/') ? packagePath(fromText) : undefined;
      const to = toText.startsWith('/') ? packagePath(toText) : undefined;
      if (from && to && by !== '') out.set(from, { from, to, by });
      else bad++;
    }
  } catch (err) {
    if (!isNotFound(err)) onError(DIVERSIONS, err);
    return out;
  }
  // A long line shifts every later triple: what follows it is read but may be wrong, so say so.
  const problems = [bad > 0 ? `${bad} diversion(s) that do not name two absolute paths and a package` : '', triple.length > 0 ? 'a trailing incomplete diversion' : '', describeSkips(skips, LIMITS)];
  const said = problems.filter(Boolean).join('; ');
  if (said) onError(DIVERSIONS, new Error(`dpkg diversions: ${said}`));
  return out;
}
