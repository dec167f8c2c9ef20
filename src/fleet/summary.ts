/**
 * The fleet summary: one row per instance, written as JSON and CSV, and merged across
 * the output directories of shards into one.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SEVERITIES, severityRank, type Severity } from '../engine/finding.js';
import type { ScanReport, ScanStatus } from '../report/report.js';

export interface FleetRow {
  instance: string;
  region: string;
  status: 'scanned' | 'failed';
  volumes: number;
  /** The most severe finding, or "none". */
  highestSeverity: Severity | 'none';
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

export interface FleetSummary {
  schemaVersion: number;
  generatedAt: string;
  instances: FleetRow[];
  totals: { instances: number; scanned: number; failed: number; bySeverity: Record<Severity | 'none', number> };
}

export function rowFromReport(instance: string, region: string, report: ScanReport, reportPath: string): FleetRow {
  const highest = report.findings.reduce<Severity | 'none'>((h, f) => (h === 'none' || severityRank(f.severity) > severityRank(h) ? f.severity : h), 'none');
  return {
    instance,
    region,
    status: 'scanned',
    volumes: report.source?.volumes.length ?? 0,
    highestSeverity: highest,
    families: [...new Set(report.findings.map((f) => f.family).filter((f): f is string => Boolean(f)))].sort(),
    // Reports written before the blocklist existed (--resume) have none.
    pools: (report.blocklist?.pools ?? []).map((p) => p.pool).sort(),
    findings: report.findings.length,
    errors: report.errors.length,
    // Reports written before the status existed (--resume) are incomplete when they have errors.
    reportStatus: report.status ?? (report.errors.length > 0 ? 'incomplete' : 'complete'),
    report: reportPath,
  };
}

export function summarize(rows: FleetRow[], now = new Date()): FleetSummary {
  const sorted = [...rows].sort((a, b) => a.region.localeCompare(b.region) || a.instance.localeCompare(b.instance));
  const bySeverity = Object.fromEntries([...SEVERITIES, 'none'].map((s) => [s, 0])) as Record<Severity | 'none', number>;
  for (const r of sorted) if (r.status === 'scanned') bySeverity[r.highestSeverity]++;
  return {
    schemaVersion: 1,
    generatedAt: now.toISOString(),
    instances: sorted,
    totals: { instances: sorted.length, scanned: sorted.filter((r) => r.status === 'scanned').length, failed: sorted.filter((r) => r.status === 'failed').length, bySeverity },
  };
}

const CSV_COLUMNS = ['instance', 'region', 'status', 'volumes', 'highestSeverity', 'families', 'findings', 'errors', 'reason'] as const;

export function toCsv(summary: FleetSummary): string {
  const cell = (v: unknown) => {
    const s = Array.isArray(v) ? v.join(' ') : v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of summary.instances) lines.push(CSV_COLUMNS.map((c) => cell(r[c])).join(','));
  return lines.join('\n') + '\n';
}

export async function writeSummary(dir: string, summary: FleetSummary): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await fsp.writeFile(path.join(dir, 'summary.csv'), toCsv(summary));
}

/** One summary from several shard output directories; an instance seen twice keeps its scanned row. */
export async function mergeSummaries(dirs: string[]): Promise<FleetSummary> {
  const rows = new Map<string, FleetRow>();
  for (const dir of dirs) {
    const s = JSON.parse(await fsp.readFile(path.join(dir, 'summary.json'), 'utf8')) as FleetSummary;
    for (const r of s.instances) {
      const key = `${r.region}/${r.instance}`;
      const prior = rows.get(key);
      if (!prior || (prior.status === 'failed' && r.status === 'scanned')) rows.set(key, { ...r, report: r.report ? path.resolve(dir, r.report) : undefined });
    }
  }
  return summarize([...rows.values()]);
}
