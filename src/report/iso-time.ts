/**
 * Times as a report writes them: ISO-8601 in UTC. Times from a hostile image may be
 * anything, so a value no Date can hold becomes undefined, never an exception.
 */
import type { FileTimes } from '../model/finding.js';
import type { ReportTimes } from '../model/report.js';

/** ISO-8601 in UTC, or undefined for a value that is not a time a Date can hold. */
export function isoTime(seconds: number): string | undefined {
  if (!Number.isFinite(seconds)) return undefined;
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** A file's times in ISO-8601, or undefined when mtime or ctime is no usable time. */
export function isoTimes(times: FileTimes): ReportTimes | undefined {
  const mtime = isoTime(times.mtime);
  const ctime = isoTime(times.ctime);
  if (mtime === undefined || ctime === undefined) return undefined;
  const out: ReportTimes = { mtime, ctime };
  const crtime = times.crtime === undefined ? undefined : isoTime(times.crtime);
  if (crtime !== undefined) out.crtime = crtime;
  return out;
}
