/**
 * File times for findings and the timeline: read from lstat (a symlink planted at a
 * persistence path has times of its own), seconds since the epoch on findings and
 * ISO-8601 in the timeline section (src/model/report.ts says why).
 * Times from a hostile image may be anything: a value no Date can hold is dropped,
 * never thrown.
 */
import type { Stat, Vfs } from '../../mountfs/vfs.js';
import type { FileTimes, Finding } from '../model/finding.js';
import { isoTime } from '../report/iso-time.js';

/** The times of a stat, or undefined when mtime or ctime is no usable time. */
export function fileTimes(stat: Stat): FileTimes | undefined {
  if (isoTime(stat.mtime) === undefined || isoTime(stat.ctime) === undefined) return undefined;
  const times: FileTimes = { mtime: stat.mtime, ctime: stat.ctime };
  if (stat.crtime !== undefined && isoTime(stat.crtime) !== undefined) times.crtime = stat.crtime;
  return times;
}

/**
 * When the file last changed for the timeline: its ctime, which `touch -r` cannot move
 * back; its mtime when the source keeps no ctime (archives store 0).
 */
export function changeTime(times: FileTimes): { at: number; basis: 'ctime' | 'mtime' } {
  return times.ctime > 0 ? { at: times.ctime, basis: 'ctime' } : { at: times.mtime, basis: 'mtime' };
}

/** Fills `times` of every finding whose path exists: one lstat per distinct path, errors mean no times. */
export async function fillFindingTimes(vfs: Vfs, findings: Finding[]): Promise<void> {
  const byPath = new Map<string, FileTimes | undefined>();
  for (const f of findings) {
    if (!byPath.has(f.path)) byPath.set(f.path, await lstatTimes(vfs, f.path));
    const times = byPath.get(f.path);
    if (times) f.times = { ...times };
  }
}

export async function lstatTimes(vfs: Vfs, path: string): Promise<FileTimes | undefined> {
  if (!path.startsWith('/')) return undefined;
  try {
    return fileTimes(await vfs.lstat(path));
  } catch {
    // Gone, or unreadable: the check that reported the finding already said so if it mattered.
    return undefined;
  }
}

