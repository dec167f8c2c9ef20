/**
 * Applies an --ignore file to a report: a finding an entry accepts stays in the report,
 * marked `suppressed` with the entry's reason, and no longer counts for --fail-on; an
 * entry past its expiry date suppresses nothing and is listed in the report's
 * `suppressions.expired`, so an acceptance that was meant to be reviewed is seen.
 */
import type { ExpiredIgnoreEntry, ReportFinding, ScanReport } from '../model/report.js';
import { isExpired, type IgnoreEntry, type IgnoreList } from './ignore-file.js';

export interface SuppressOptions {
  /** The fleet instance the report is of; else read from an `aws:instance/…` or `aliyun:instance/…` target. */
  instance?: string;
  now?: Date;
}

/** The report with the list applied (a copy; findings suppressed before are judged afresh). */
export function applyIgnores(report: ScanReport, list: IgnoreList, options: SuppressOptions = {}): ScanReport {
  const now = options.now ?? new Date();
  const instance = options.instance ?? /^[a-z]+:instance\/(.+)$/.exec(report.target)?.[1];
  const forThis = list.entries.filter((e) => e.matchTarget(report.target) && (e.instance === undefined || (instance !== undefined && e.matchInstance(instance))));
  const live = forThis.filter((e) => !isExpired(e, now));
  const expired = forThis.filter((e) => isExpired(e, now));
  const matches = (e: IgnoreEntry, f: ReportFinding) => e.matchRule(f.rule) && e.matchPath(f.path);

  const findings: ReportFinding[] = report.findings.map(({ suppressed: _prior, ...f }) => {
    const entry = live.find((e) => matches(e, f));
    return entry ? { ...f, suppressed: { reason: entry.reason, entry: entry.entry, ...(entry.expires ? { expires: entry.expires } : {}) } } : f;
  });
  const expiredEntries: ExpiredIgnoreEntry[] = expired.map((e) => ({
    entry: e.entry,
    rule: e.rule,
    path: e.path,
    reason: e.reason,
    expires: e.expires!,
    findings: findings.filter((f) => matches(e, f)).length,
  }));
  return {
    ...report,
    findings,
    suppressions: { file: list.file, suppressed: findings.filter((f) => f.suppressed).length, expired: expiredEntries },
  };
}

/** Findings that count for --fail-on: those no --ignore entry accepted. */
export function countedFindings<F extends { suppressed?: unknown }>(findings: readonly F[]): F[] {
  return findings.filter((f) => !f.suppressed);
}

/** One line per expired --ignore entry that applies to the report's target. */
export function expiredIgnoreWarnings(report: ScanReport): string[] {
  return (report.suppressions?.expired ?? []).map(
    (e) => `ignore entry ${e.entry} (${e.rule} on ${e.path}) expired on ${e.expires} and suppresses nothing; ${e.findings} finding(s) it matched count again`,
  );
}
