/**
 * The report's timeline (src/model/report.ts, ReportTimeline): findings in the order
 * their files changed, and the window around the first serious change. An intrusion
 * writes its pieces within minutes to hours of each other, so the files the checks
 * examined that changed in that window without a finding of their own (an unflagged
 * loader, a new authorized key, an edited unit) are listed for the analyst.
 *
 * The window: from DEFAULT_WINDOW.beforeSeconds (1 hour) before the earliest change
 * among high and critical findings to afterSeconds (24 hours) after it. Before, because
 * the first flagged file is rarely the first one written (the dropper and an SSH key
 * come first); after, because miners add later stages (watchdog units, preload
 * rootkits, re-downloads) over the following day, while a wider span would fill the
 * list with ordinary package upgrades. `--timeline-window` changes it.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { severityRank, type Finding } from '../model/finding.js';
import type { Check } from '../model/check.js';
import { changeTime, lstatTimes } from './file-times.js';
import { isoTime, isoTimes } from '../report/iso-time.js';
import type { ChangedFile, ReportTimeline, TimelineEntry } from '../model/report.js';

export interface TimelineSpan {
  beforeSeconds: number;
  afterSeconds: number;
}

export const DEFAULT_WINDOW: TimelineSpan = { beforeSeconds: 3600, afterSeconds: 24 * 3600 };

/** changedFiles holds at most this many; the rest are counted. */
export const MAX_CHANGED_FILES = 500;
/** Examined files statted at most, over all filesystems: a hash list makes every system binary "examined". */
export const MAX_EXAMINED_STATS = 50_000;

/** A file the checks examined, and which: "cron", "services", "ssh-keys", ... */
export interface ExaminedFile {
  path: string;
  /** Ids of the checks that examined it, first first. */
  places: string[];
  /** A persistence point starts it. */
  started?: boolean;
}

/**
 * The ids of the checks that read persistence places (Check.persistence). Files only
 * other checks examined (package integrity, miner-file and webshell sweeps, hash lists)
 * are listed only when a persistence point starts them: otherwise the daily unattended
 * upgrade that falls inside most windows would fill the list with verified package
 * files and state under /var/lib.
 */
export function persistencePlaces(checks: readonly Check[]): ReadonlySet<string> {
  return new Set(checks.filter((c) => c.persistence).map((c) => c.id));
}


export interface ScannedFileSystem {
  vfs: Vfs;
  examined: readonly ExaminedFile[];
  /** Set when the disk held several scanned filesystems. */
  volume?: number;
}

type TimedFinding = Pick<Finding, 'severity' | 'path' | 'times'> & { volume?: number };

export function emptyTimeline(): ReportTimeline {
  return { entries: [], window: null, changedFiles: [], changedFilesOmitted: 0, examinedNotChecked: 0 };
}

/** Findings are referred to by their index in `findings`, which must be in report order. */
export async function buildTimeline(
  findings: readonly TimedFinding[],
  filesystems: readonly ScannedFileSystem[],
  span: TimelineSpan = DEFAULT_WINDOW,
  /** Ids of the checks whose files are persistence places: persistencePlaces(checks). */
  persistence: ReadonlySet<string> = new Set(),
): Promise<ReportTimeline> {
  const timeline = emptyTimeline();
  // Engine times come from lstat, but a hand-built or hostile value must not throw: no ISO form, no entry.
  const timed = findings
    .map((f, index) => {
      const change = f.times ? changeTime(f.times) : undefined;
      return { f, index, change, iso: change ? isoTime(change.at) : undefined };
    })
    .filter((t): t is { f: TimedFinding; index: number; change: { at: number; basis: 'ctime' | 'mtime' }; iso: string } => t.iso !== undefined)
    .sort((a, b) => a.change.at - b.change.at || a.index - b.index);
  timeline.entries = timed.map((t): TimelineEntry => ({ finding: t.index, changed: t.iso, basis: t.change.basis }));

  const anchor = timed.find((t) => severityRank(t.f.severity) >= severityRank('high'));
  if (!anchor) return timeline;
  const start = anchor.change.at - span.beforeSeconds;
  const end = anchor.change.at + span.afterSeconds;
  const startIso = isoTime(start);
  const endIso = isoTime(end);
  if (startIso === undefined || endIso === undefined) return timeline;
  timeline.window = { start: startIso, end: endIso, anchor: anchor.index, beforeSeconds: span.beforeSeconds, afterSeconds: span.afterSeconds };

  const inWindow = (t: number) => t >= start && t <= end;
  const changed: { file: ChangedFile; at: number }[] = [];
  let stats = 0;
  for (const fs of filesystems) {
    const flagged = new Set(findings.filter((f) => f.volume === fs.volume).map((f) => f.path));
    for (const e of fs.examined) {
      if (flagged.has(e.path)) continue;
      const places = e.places.filter((p) => persistence.has(p));
      if (places.length === 0 && !e.started) continue;
      if (stats >= MAX_EXAMINED_STATS) {
        timeline.examinedNotChecked++;
        continue;
      }
      stats++;
      const times = await lstatTimes(fs.vfs, e.path);
      if (!times || !(inWindow(times.mtime) || inWindow(times.ctime))) continue;
      const iso = isoTimes(times);
      if (!iso) continue;
      // Ordered by the change that fell inside the window: the ctime, else the mtime.
      const at = inWindow(times.ctime) ? times.ctime : times.mtime;
      changed.push({ file: { path: e.path, ...(fs.volume !== undefined ? { volume: fs.volume } : {}), place: places[0] ?? e.places[0] ?? 'unknown', times: iso }, at });
    }
  }
  changed.sort((a, b) => a.at - b.at || a.file.path.localeCompare(b.file.path));
  timeline.changedFiles = changed.slice(0, MAX_CHANGED_FILES).map((c) => c.file);
  timeline.changedFilesOmitted = Math.max(0, changed.length - MAX_CHANGED_FILES);
  return timeline;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_SPAN_SECONDS = 366 * 86400;

/** "1h:24h" (before:after), or one duration for both sides; units s, m, h, d (seconds when none). */
export function parseTimelineWindow(text: string): TimelineSpan {
  const parts = text.split(':');
  if (parts.length > 2) throw new Error(`--timeline-window must be BEFORE:AFTER, e.g. 1h:24h, not "${text}"`);
  const [before, after] = parts.map((p) => parseDuration(p, text));
  return { beforeSeconds: before!, afterSeconds: after ?? before! };
}

function parseDuration(part: string, whole: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(part.trim());
  if (!m) throw new Error(`--timeline-window takes durations like 30m, 1h, 2d (BEFORE:AFTER), not "${whole}"`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] || 's']!;
  if (seconds > MAX_SPAN_SECONDS) throw new Error(`--timeline-window: ${part} is longer than a year`);
  return seconds;
}
