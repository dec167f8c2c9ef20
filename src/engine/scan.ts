/**
 * One target in, one report out: opens the target, runs every check on every scanned
 * filesystem, and fills the report: findings, the timeline across all filesystems
 * (timeline.ts, built while they are still open) and the blocklist. Never writes to
 * the target.
 */
import { openTarget, UnreadableTargetError } from '../../mountfs/open-target.js';
import { parseCloudTarget, type CloudOptions } from '../../cloud/targets.js';
import { openCloudTarget } from './open-cloud-target.js';
import type { ReadCounter } from '../../mountfs/sources/byte-source.js';
import { declaredPaths, type Check } from './check.js';
import { FACT_PATHS } from './facts.js';
import { SEVERITIES, severityRank, type Severity } from './finding.js';
import { runChecks, errorMessage } from './run-checks.js';
import { buildTimeline, emptyTimeline, persistencePlaces, type ScannedFileSystem, type TimelineSpan } from './timeline.js';
import { buildBlocklist } from '../report/blocklist.js';
import type { RuleSet } from '../rules/ruleset.js';
import type { HashLookup } from '../hashes/hash-list.js';
import { SCHEMA_VERSION, type ReportError, type ReportFinding, type ScanReport } from '../report/report.js';
import { VERSION } from './version.js';

export interface ScanOptions {
  checks: readonly Check[];
  rules: RuleSet;
  hashes: HashLookup;
  /** Follow qcow2 backing files and VHD parents beside the image. */
  allowBacking?: boolean;
  /** Region and endpoint for cloud targets. */
  cloud?: CloudOptions;
  /** Around the first high or critical change; timeline.ts's default when absent. */
  timelineWindow?: TimelineSpan;
  /** Aborted when minescan must stop: the scan is abandoned and no report is written. */
  signal?: AbortSignal;
}

export async function scanTarget(target: string, options: ScanOptions): Promise<ScanReport> {
  const started = Date.now();
  const counter: ReadCounter = { bytesRead: 0 };
  const report: ScanReport = {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'minescan', version: VERSION },
    target,
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    source: null,
    findings: [],
    summary: emptySummary(),
    timeline: emptyTimeline(),
    blocklist: buildBlocklist([]),
    stats: { filesExamined: 0, bytesRead: 0, bytesHashed: 0, durationMs: 0 },
    errors: [],
  };
  try {
    // Sources that can be read only once keep exactly what the checks declared they read.
    const retain = [...new Set([...FACT_PATHS, ...options.checks.flatMap((c) => declaredPaths(c, options.rules))])];
    const openOptions = { retain, allowBacking: options.allowBacking };
    const cloud = parseCloudTarget(target);
    const opened = cloud ? await openCloudTarget(target, cloud, counter, openOptions, options.cloud) : await openTarget(target, counter, openOptions);
    try {
      report.source = { kind: opened.kind, format: opened.format, volumes: opened.volumes };
      report.errors.push(...opened.warnings.map((message) => ({ message })));
      const several = opened.filesystems.length > 1;
      const scanned: ScannedFileSystem[] = [];
      for (const fs of opened.filesystems) {
        const result = await runChecks(fs.vfs, options.checks, { rules: options.rules, hashes: options.hashes });
        const volume = several ? { volume: fs.volumeIndex } : {};
        report.findings.push(...result.findings.map((f): ReportFinding => ({ ...f, ...volume })));
        report.errors.push(...result.errors.map((e): ReportError => ({ ...e, ...volume })));
        report.stats.filesExamined += result.filesExamined;
        report.stats.bytesHashed += result.bytesHashed;
        scanned.push({ vfs: fs.vfs, examined: result.examined, ...volume });
      }
      // The timeline stats examined files, so it is built before the filesystems close.
      report.findings.sort(compareFindings);
      report.timeline = await buildTimeline(report.findings, scanned, options.timelineWindow, persistencePlaces(options.checks));
    } finally {
      await opened.close();
    }
  } catch (err) {
    if (!(err instanceof UnreadableTargetError)) report.errors.push({ message: errorMessage(err) });
    else throw err;
  }
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

/** The report for a target that could not be read at all. */
export function unreadableReport(target: string, message: string): ScanReport {
  const now = new Date().toISOString();
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'minescan', version: VERSION },
    target,
    startedAt: now,
    finishedAt: now,
    source: null,
    findings: [],
    summary: emptySummary(),
    timeline: emptyTimeline(),
    blocklist: buildBlocklist([]),
    stats: { filesExamined: 0, bytesRead: 0, bytesHashed: 0, durationMs: 0 },
    errors: [{ message }],
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
