/**
 * The report for a person at a terminal: the most severe findings first, each with
 * where it is, what fired, and what to run to remove it; then the timeline around the
 * first serious change and the pools to block.
 */
import type { Severity } from '../model/finding.js';
import { SEVERITIES } from '../model/finding.js';
import type { ReportFinding, ScanReport } from '../model/report.js';
import type { DiskReport } from '../../mountfs/open-target.js';
import type { FileTimes } from '../model/finding.js';
import { isoTime } from './iso-time.js';
import { expiredIgnoreWarnings } from './suppress.js';

const COLORS: Record<Severity, string> = {
  critical: '\x1b[1;31m',
  high: '\x1b[31m',
  medium: '\x1b[33m',
  low: '\x1b[36m',
  info: '\x1b[2m',
};
const RESET = '\x1b[0m';

export interface TextOptions {
  color: boolean;
}

export function renderText(reports: ScanReport[], options: TextOptions): string {
  return reports.map((r) => renderOne(r, options)).join('\n');
}

function renderOne(report: ScanReport, { color }: TextOptions): string {
  const paint = (s: Severity, text: string) => (color ? `${COLORS[s]}${text}${RESET}` : text);
  const out: string[] = [];
  out.push(`minescan ${report.tool.version} — ${report.target}`);
  const verdict = verdictLine(report);
  if (verdict) out.push(color ? `${COLORS.critical}${verdict}${RESET}` : verdict);
  if (report.source) {
    out.push(`source: ${report.source.kind} (${report.source.format})`);
    // Numbered by position, as findings' [volume N] are; the partition number is the volume's own.
    report.source.volumes.forEach((v, position) => {
      const fs = v.filesystem ?? 'no filesystem';
      const state = v.scanned ? 'scanned' : 'not scanned';
      const notes = v.notes.length ? ` — ${v.notes.join('; ')}` : '';
      out.push(`  volume ${position} [${v.scheme} ${v.type}] partition ${v.index} offset ${v.start} size ${v.size}${diskText(v.disk)}: ${fs}, ${state}${notes}`);
    });
  }
  for (const r of report.roots ?? []) out.push(`judged as ${r.platform}${r.volume !== undefined ? ` [volume ${r.volume}]` : ''}: ${r.evidence}`);
  out.push('');
  if (report.findings.length === 0) out.push('No findings.');
  for (const f of report.findings) {
    const where = `${f.volume !== undefined ? `[volume ${f.volume}] ` : ''}${f.path}${f.line !== undefined ? `:${f.line}` : ''}`;
    out.push(`${paint(f.severity, f.severity.toUpperCase().padEnd(8))} ${where}`);
    out.push(`         ${f.message}${f.family ? ` (family: ${f.family})` : ''}`);
    out.push(`         rule ${f.rule} · ${f.category}`);
    if (f.suppressed) out.push(`         SUPPRESSED by ${f.suppressed.entry}${f.suppressed.expires ? ` (until ${f.suppressed.expires})` : ''}: ${f.suppressed.reason}`);
    if (f.evidence) out.push(`         evidence: ${f.evidence}`);
    if (f.related?.startedBy?.length) out.push(`         started by: ${f.related.startedBy.join(', ')}`);
    if (f.related?.starts?.length) out.push(`         starts: ${f.related.starts.join(', ')}`);
    if (f.times) out.push(`         ${describeTimes(f.times)}`);
    if (f.remediation) {
      out.push('         remediation:');
      for (const line of f.remediation.split('\n')) out.push(`           ${line}`);
    }
    out.push('');
  }
  out.push(...timelineBlock(report));
  out.push(...blocklistBlock(report));
  if (report.errors.length) {
    out.push('Not read (the scan went on, but it is incomplete):');
    for (const e of report.errors) {
      const where = `${e.volume !== undefined ? `[volume ${e.volume}] ` : ''}${e.path ? `${e.path}: ` : ''}`;
      out.push(`  ${e.kind.padEnd(12)} ${where}${e.message}${e.count ? ` (${e.count} times)` : ''}`);
    }
    if (report.errorsOmitted) out.push(`  … and ${report.errorsOmitted} more`);
    out.push('');
  }
  const expired = expiredIgnoreWarnings(report);
  if (expired.length) {
    out.push('Expired ignore entries (they suppress nothing now):');
    for (const e of expired) out.push(`  ${e}`);
    out.push('');
  }
  if (report.notes?.length) {
    out.push('Notes:');
    for (const n of report.notes) out.push(`  ${n}`);
    out.push('');
  }
  const counts = SEVERITIES.map((s) => `${report.summary[s]} ${s}`).join(', ');
  const s = report.stats;
  const suppressed = report.suppressions ? ` (${report.suppressions.suppressed} suppressed by ${report.suppressions.file})` : '';
  out.push(`Summary${report.status === 'incomplete' ? ' (INCOMPLETE)' : ''}: ${counts}${suppressed}. ${s.filesExamined} files examined, ${s.bytesRead} bytes read, ${s.bytesHashed} hashed, ${s.durationMs} ms.`);
  return out.join('\n') + '\n';
}

/** An incomplete scan says so first: its findings are not a verdict on the whole disk. */
function verdictLine(report: ScanReport): string | undefined {
  if (report.status !== 'incomplete') return undefined;
  const n = report.errors.length + (report.errorsOmitted ?? 0);
  return `INCOMPLETE: ${n} thing(s) the scan needed could not be read (listed under "Not read"); no finding does not mean clean`;
}

/** Shown only when a high or critical finding anchors a window: without one a timeline says little. */
function timelineBlock(report: ScanReport): string[] {
  const t = report.timeline;
  if (!t?.window) return [];
  const out = ['Timeline (file changes, earliest first):'];
  for (const e of t.entries) {
    const f = report.findings[e.finding];
    if (f) out.push(`  ${e.changed} ${e.basis === 'ctime' ? 'changed ' : 'modified'} ${f.severity.toUpperCase().padEnd(8)} ${where(f)} (${f.rule})`);
  }
  const anchor = report.findings[t.window.anchor];
  out.push('');
  out.push(`Window ${t.window.start} — ${t.window.end}, around ${anchor ? where(anchor) : 'the first serious finding'}:`);
  if (t.changedFiles.length === 0) out.push('  no other examined file changed in it.');
  for (const c of t.changedFiles) {
    const volume = c.volume !== undefined ? `[volume ${c.volume}] ` : '';
    out.push(`  ${c.times.ctime} changed, ${c.times.mtime} modified  ${volume}${c.path} (${c.place})`);
  }
  if (t.changedFilesOmitted > 0) out.push(`  … and ${t.changedFilesOmitted} more (the list is cut; see the JSON report for the bound).`);
  if (t.examinedNotChecked > 0) out.push(`  ${t.examinedNotChecked} examined files were not checked: too many to stat.`);
  out.push('');
  return out;
}

function blocklistBlock(report: ScanReport): string[] {
  const b = report.blocklist;
  if (!b || (b.pools.length === 0 && b.wallets.length === 0)) return [];
  const out = ['Block these (minescan applies none of them):'];
  for (const note of b.notes) out.push(`  ${note}`);
  for (const p of b.pools) {
    out.push('');
    out.push(`  pool ${p.pool} — named by ${[...new Set(p.findings.map((i) => findingRef(report, i)))].join(', ')}`);
    for (const e of p.entries) out.push(`    ${e.kind}: ${e.text}`);
  }
  if (b.cloud.length) {
    out.push('');
    for (const c of b.cloud) out.push(`  ${c.kind}: ${c.text}`);
  }
  if (b.wallets.length) {
    out.push('');
    out.push('  Wallets, for the pools\' abuse contacts:');
    for (const w of b.wallets) out.push(`    ${w.wallet}${w.pools.length ? ` (mines to ${w.pools.join(', ')})` : ''} — ${[...new Set(w.findings.map((i) => findingRef(report, i)))].join(', ')}`);
  }
  if (b.omitted.pools + b.omitted.wallets > 0) out.push(`  … ${b.omitted.pools} more pools and ${b.omitted.wallets} more wallets left out.`);
  out.push('');
  return out;
}

function describeTimes(t: FileTimes): string {
  const at = (s: number) => isoTime(s) ?? String(s);
  return `changed ${at(t.ctime)} · modified ${at(t.mtime)}${t.crtime !== undefined ? ` · created ${at(t.crtime)}` : ''}`;
}

function where(f: ReportFinding): string {
  return `${f.volume !== undefined ? `[volume ${f.volume}] ` : ''}${f.path}${f.line !== undefined ? `:${f.line}` : ''}`;
}

function findingRef(report: ScanReport, index: number): string {
  const f = report.findings[index];
  return f ? where(f) : `finding ${index}`;
}

/** " on disk 0 vol-… (/dev/xvda, root) from snap-…" for a volume of a cloud disk. */
function diskText(disk: DiskReport | undefined): string {
  if (!disk) return '';
  const what = [disk.device, disk.root === true ? 'root' : disk.root === false ? 'data' : undefined].filter(Boolean).join(', ');
  return ` on disk ${disk.index}${disk.volumeId ? ` ${disk.volumeId}` : ''}${what ? ` (${what})` : ''}${disk.snapshotId ? ` from ${disk.snapshotId}` : ''}`;
}
