/**
 * The fleet summary: one row per instance, written as JSON and CSV, and merged across
 * the output directories of shards into one. An instance's verdict is the most severe
 * finding that --fail-on acts on ("none" for a clean instance, whose info-level
 * findings only count); every finding is still counted by severity.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SEVERITIES, severityRank, type Severity } from '../model/finding.js';
import type { ScanReport, ScanStatus } from '../model/report.js';

export interface FleetRow {
  instance: string;
  region: string;
  status: 'scanned' | 'failed';
  volumes: number;
  /** The most severe finding at or above --fail-on, or "none" (also for --fail-on none). */
  verdict: Severity | 'none';
  /** Every finding, counted by severity, but those an --ignore entry accepted. */
  bySeverity: Record<Severity, number>;
  /** Findings an --ignore entry accepted (listed in the report, counted nowhere else). */
  suppressed?: number;
  families: string[];
  /** Mining pools the findings name (the report's blocklist); JSON only, the CSV columns stay. */
  pools?: string[];
  findings: number;
  errors: number;
  /** The scanned instance's report status (JSON only): `incomplete` when something was not read. */
  reportStatus?: ScanStatus;
  /** Why an instance could not be scanned. */
  reason?: string;
  report?: string;
}

/** The --fail-on threshold: a severity, or "none" (nothing fails). */
export type FailOn = Exclude<Severity, 'info'> | 'none';

export interface FleetSummary {
  schemaVersion: number;
  generatedAt: string;
  /** The threshold the verdicts were taken at. */
  failOn: FailOn;
  instances: FleetRow[];
  /** byVerdict: scanned instances by their verdict. */
  totals: { instances: number; scanned: number; failed: number; byVerdict: Record<Severity | 'none', number> };
}

export function emptyCounts(): Record<Severity, number> {
  return Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
}

/** The most severe counted severity that --fail-on acts on. */
export function verdictOf(counts: Record<Severity, number>, failOn: FailOn): Severity | 'none' {
  if (failOn === 'none') return 'none';
  return SEVERITIES.find((s) => counts[s] > 0 && severityRank(s) >= severityRank(failOn)) ?? 'none';
}

export function rowFromReport(instance: string, region: string, report: ScanReport, reportPath: string, failOn: FailOn = 'high'): FleetRow {
  const counts = emptyCounts();
  for (const f of report.findings) if (!f.suppressed) counts[f.severity]++;
  return {
    instance,
    region,
    status: 'scanned',
    volumes: report.source?.volumes.length ?? 0,
    verdict: verdictOf(counts, failOn),
    bySeverity: counts,
    families: [...new Set(report.findings.map((f) => f.family).filter((f): f is string => Boolean(f)))].sort(),
    // Reports written before the blocklist existed (--resume) have none.
    pools: (report.blocklist?.pools ?? []).map((p) => p.pool).sort(),
    findings: report.findings.length,
    ...(report.suppressions ? { suppressed: report.suppressions.suppressed } : {}),
    errors: report.errors.length,
    // Reports written before the status existed (--resume) are incomplete when they have errors.
    reportStatus: report.status ?? (report.errors.length > 0 ? 'incomplete' : 'complete'),
    report: reportPath,
  };
}

/** Rows into a summary, each verdict taken (again) at failOn, so merge may use its own threshold. */
export function summarize(rows: FleetRow[], failOn: FailOn = 'high', now = new Date()): FleetSummary {
  const sorted = [...rows]
    .map((r) => ({ ...r, verdict: r.status === 'scanned' ? verdictOf(r.bySeverity, failOn) : ('none' as const) }))
    .sort((a, b) => a.region.localeCompare(b.region) || a.instance.localeCompare(b.instance));
  const byVerdict = Object.fromEntries([...SEVERITIES, 'none'].map((s) => [s, 0])) as Record<Severity | 'none', number>;
  for (const r of sorted) if (r.status === 'scanned') byVerdict[r.verdict]++;
  return {
    schemaVersion: 2,
    generatedAt: now.toISOString(),
    failOn,
    instances: sorted,
    totals: { instances: sorted.length, scanned: sorted.filter((r) => r.status === 'scanned').length, failed: sorted.filter((r) => r.status === 'failed').length, byVerdict },
  };
}

const CSV_COLUMNS = ['instance', 'region', 'status', 'volumes', 'verdict', ...SEVERITIES, 'families', 'findings', 'errors', 'reason'] as const;

export function toCsv(summary: FleetSummary): string {
  const cell = (v: unknown) => {
    const s = Array.isArray(v) ? v.join(' ') : v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const value = (r: FleetRow, c: (typeof CSV_COLUMNS)[number]) => ((SEVERITIES as readonly string[]).includes(c) ? r.bySeverity[c as Severity] : r[c as keyof FleetRow]);
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of summary.instances) lines.push(CSV_COLUMNS.map((c) => cell(value(r, c))).join(','));
  return lines.join('\n') + '\n';
}

export async function writeSummary(dir: string, summary: FleetSummary): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await fsp.writeFile(path.join(dir, 'summary.csv'), toCsv(summary));
}

/** One summary from several shard output directories; an instance seen twice keeps its scanned row. */
export async function mergeSummaries(dirs: string[], failOn: FailOn = 'high'): Promise<FleetSummary> {
  const rows = new Map<string, FleetRow>();
  for (const dir of dirs) {
    const s = JSON.parse(await fsp.readFile(path.join(dir, 'summary.json'), 'utf8')) as FleetSummary;
    for (const r of s.instances.map(fromSchema1)) {
      const key = `${r.region}/${r.instance}`;
      const prior = rows.get(key);
      if (!prior || (prior.status === 'failed' && r.status === 'scanned')) rows.set(key, { ...r, report: r.report ? path.resolve(dir, r.report) : undefined });
    }
  }
  return summarize([...rows.values()], failOn);
}

/** A row of a schema 1 summary kept only its highest severity: it counts as one finding of that severity. */
function fromSchema1(row: FleetRow & { highestSeverity?: Severity | 'none' }): FleetRow {
  if (row.bySeverity) return row;
  const { highestSeverity, ...rest } = row;
  const counts = emptyCounts();
  if (highestSeverity && highestSeverity !== 'none') counts[highestSeverity] = 1;
  return { ...rest, bySeverity: counts, verdict: 'none' };
}
