/**
 * One target in, one report out: opens the target, runs every check on every scanned
 * filesystem, and fills the report: findings, the timeline across all filesystems
 * (timeline.ts, built while they are still open) and the blocklist. Never writes to
 * the target. The verdict is part of the report: anything the scan needed and did not
 * read (an unreadable region, a volume it cannot open, a check that stopped, a time
 * budget reached) is an `errors` entry, and makes the status `incomplete`.
 */
import { openTarget, UnreadableTargetError, type OpenedTarget, type OpenOptions } from '../../mountfs/open-target.js';
import { assertDeclaredRules } from '../rules/check-rules.js';
import type { SpoolOptions } from '../../mountfs/sources/temp-spool.js';
import type { ReadCounter } from '../../mountfs/sources/byte-source.js';
import { declaredPaths, type Check } from '../model/check.js';
import { FACT_PATHS } from '../facts/facts.js';
import { PLATFORM_PATHS } from '../facts/windows/platform.js';
import { SEVERITIES, severityRank, type Severity } from '../model/finding.js';
import { runChecks } from './run-checks.js';
import { ErrorLog, errorMessage, reportError, typedFields } from './scan-errors.js';
import { ScanInterruptedError, ScanStop, type PhaseBudgets } from './scan-stop.js';
import { buildTimeline, emptyTimeline, persistencePlaces, type ScannedFileSystem, type TimelineSpan } from './timeline.js';
import { buildBlocklist } from '../report/blocklist.js';
import type { RuleSet } from '../rules/ruleset.js';
import type { HashLookup } from '../hashes/hash-list.js';
import { SCHEMA_VERSION, type ReportFinding, type ScanReport } from '../model/report.js';
import { VERSION } from './version.js';

export { ScanInterruptedError } from './scan-stop.js';

/**
 * Opens targets the engine does not know by name (the CLI passes cloud/'s, for
 * aws:… and aliyun:…); undefined for any other target, which is opened as a path.
 */
export type TargetOpener = (target: string, counter: ReadCounter, options: OpenOptions) => Promise<OpenedTarget | undefined>;

export interface ScanOptions {
  checks: readonly Check[];
  rules: RuleSet;
  hashes: HashLookup;
  /** Follow qcow2 backing files and VHD parents beside the image. */
  allowBacking?: boolean;
  /** Opens the targets that are not paths (cloud targets). */
  opener?: TargetOpener;
  /** Where compressed disks and zip members are spooled and how much they may write (--spool-dir, --spool-budget). */
  spool?: SpoolOptions;
  /** The bound of an image's or device's block cache (--cache-size); a cloud snapshot's is `cloud.cacheBytes`. */
  cacheBytes?: number;
  /** Around the first high or critical change; timeline.ts's default when absent. */
  timelineWindow?: TimelineSpan;
  /** Cancels the scan: scanTarget then rejects with ScanInterruptedError and there is no report. */
  signal?: AbortSignal;
  /** When it runs out, the scan stops and reports what it did, incomplete, with a `limit` error. */
  timeBudgetMs?: number;
  /** The same, for one phase: opening the target, running the checks. */
  phaseBudgetsMs?: PhaseBudgets;
}

/**
 * Scans one target. Rejects with UnreadableTargetError when nothing of it can be read,
 * with ScanInterruptedError as soon as `signal` aborts (the work stops at its next
 * read and closes the target; nothing half-done is returned).
 */
export async function scanTarget(target: string, options: ScanOptions): Promise<ScanReport> {
  assertDeclaredRules(options.checks, options.rules);
  const signal = options.signal;
  if (signal?.aborted) throw new ScanInterruptedError();
  const work = scan(target, options);
  if (!signal) return work;
  return new Promise<ScanReport>((resolve, reject) => {
    const onAbort = () => reject(new ScanInterruptedError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (report) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) reject(new ScanInterruptedError());
        else resolve(report);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? new ScanInterruptedError() : err);
      },
    );
  });
}

async function scan(target: string, options: ScanOptions): Promise<ScanReport> {
  const started = Date.now();
  const counter: ReadCounter = { bytesRead: 0 };
  const stop = new ScanStop(options.signal, options.timeBudgetMs, options.phaseBudgetsMs);
  const errors = new ErrorLog();
  const report = emptyReport(target, new Date(started).toISOString());
  try {
    // Sources that can be read only once keep exactly what the checks declared they read.
    const retain = [...new Set([...FACT_PATHS, ...PLATFORM_PATHS, ...options.checks.flatMap((c) => declaredPaths(c, options.rules))])];
    const openOptions = { retain, allowBacking: options.allowBacking, spool: options.spool, checkpoint: stop.checkpoint, cacheBytes: options.cacheBytes };
    stop.enter('open', 'opening the target');
    const opened = (await options.opener?.(target, counter, openOptions)) ?? (await openTarget(target, counter, openOptions));
    try {
      // Opened after a stop, its failures are the stop's doing: only the stop is reported.
      if (!stop.stopped) {
        report.source = { kind: opened.kind, format: opened.format, volumes: opened.volumes };
        report.notes.push(...opened.notes);
        for (const w of opened.warnings) errors.add({ ...typedFields(w), message: errorMessage(w) });
        for (const f of opened.failures) {
          errors.add({ ...typedFields(f.error), ...(f.volume !== undefined ? { volume: f.volume } : {}), message: `${f.where ? `${f.where}: ` : ''}${errorMessage(f.error)}` });
        }
        await scanFilesystems(opened, options, stop, report, errors);
      }
    } finally {
      await opened.close();
    }
  } catch (err) {
    // After a stop, whatever failed (often wrapped as "unreadable") is the stop's doing.
    if (!stop.stopped) {
      if (err instanceof UnreadableTargetError) throw err;
      errors.add({ ...typedFields(err), message: errorMessage(err) });
    }
  }
  const stopped = stop.stopped;
  if (stopped) errors.add({ kind: stopped.kind, message: stopped.message, ...(stopped.check ? { check: stopped.check } : {}) });
  report.errors = errors.entries().map(reportError);
  report.errorsOmitted += errors.omitted;
  report.status = report.errors.length > 0 ? 'incomplete' : 'complete';
  // Sorted again for a scan stopped midway; the sort is stable, so timeline indices hold.
  report.findings.sort(compareFindings);
  report.blocklist = buildBlocklist(report.findings);
  for (const f of report.findings) report.summary[f.severity]++;
  const finished = Date.now();
  report.finishedAt = new Date(finished).toISOString();
  report.stats.bytesRead = counter.bytesRead;
  report.stats.durationMs = finished - started;
  return report;
}

/** Every check over every filesystem of the target, then the timeline across them, while they are open. */
async function scanFilesystems(opened: OpenedTarget, options: ScanOptions, stop: ScanStop, report: ScanReport, errors: ErrorLog): Promise<void> {
  stop.enter('checks', 'the checks');
  const several = opened.filesystems.length > 1;
  const scanned: ScannedFileSystem[] = [];
  // After a stop, runChecks starts no check: the stop keeps where it happened.
  for (const fs of opened.filesystems) {
    const result = await runChecks(fs.vfs, options.checks, { rules: options.rules, hashes: options.hashes, stop });
    const volume = several ? { volume: fs.volumeIndex } : {};
    report.findings.push(...result.findings.map((f): ReportFinding => ({ ...f, ...volume })));
    if (result.platform) (report.roots ??= []).push({ ...volume, ...result.platform });
    for (const e of result.errors) errors.add({ ...e, ...volume });
    report.errorsOmitted += result.errorsOmitted;
    report.stats.filesExamined += result.filesExamined;
    report.stats.bytesHashed += result.bytesHashed;
    scanned.push({ vfs: fs.vfs, examined: result.examined, ...volume });
  }
  if (stop.stopped) return;
  // The timeline stats examined files, so it is built before the filesystems close.
  stop.at('the timeline');
  report.findings.sort(compareFindings);
  report.timeline = await buildTimeline(report.findings, scanned, options.timelineWindow, persistencePlaces(options.checks));
}

/**
 * The report for a target that could not be read at all. Its one error keeps the kind,
 * structure and offset of the MountfsError behind the UnreadableTargetError (its cause).
 */
export function unreadableReport(target: string, err: unknown): ScanReport {
  const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
  const now = new Date().toISOString();
  return {
    ...emptyReport(target, now),
    finishedAt: now,
    status: 'incomplete',
    errors: [reportError({ ...typedFields(cause), message: errorMessage(err) })],
  };
}

/** A report of nothing found yet, started at `startedAt`. */
function emptyReport(target: string, startedAt: string): ScanReport {
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'minescan', version: VERSION },
    target,
    startedAt,
    finishedAt: '',
    source: null,
    findings: [],
    roots: [],
    summary: emptySummary(),
    timeline: emptyTimeline(),
    blocklist: buildBlocklist([]),
    stats: { filesExamined: 0, bytesRead: 0, bytesHashed: 0, durationMs: 0 },
    status: 'complete',
    errors: [],
    errorsOmitted: 0,
    notes: [],
  };
}

function emptySummary(): Record<Severity, number> {
  return Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
}

function compareFindings(a: ReportFinding, b: ReportFinding): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    (a.volume ?? 0) - (b.volume ?? 0) ||
    a.path.localeCompare(b.path) ||
    (a.line ?? 0) - (b.line ?? 0) ||
    a.rule.localeCompare(b.rule)
  );
}
