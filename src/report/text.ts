/**
 * The report for a person at a terminal: the most severe findings first, each with
 * where it is, what fired, and what to run to remove it.
 */
import type { Severity } from '../engine/finding.js';
import { SEVERITIES } from '../engine/finding.js';
import type { ScanReport } from './report.js';

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
  if (report.source) {
    out.push(`source: ${report.source.kind} (${report.source.format})`);
    for (const v of report.source.volumes) {
      const fs = v.filesystem ?? 'no filesystem';
      const state = v.scanned ? 'scanned' : 'not scanned';
      const notes = v.notes.length ? ` — ${v.notes.join('; ')}` : '';
      out.push(`  volume ${v.index} [${v.scheme} ${v.type}] offset ${v.start} size ${v.size}: ${fs}, ${state}${notes}`);
    }
  }
  out.push('');
  if (report.findings.length === 0) out.push('No findings.');
  for (const f of report.findings) {
    const where = `${f.volume !== undefined ? `[volume ${f.volume}] ` : ''}${f.path}${f.line !== undefined ? `:${f.line}` : ''}`;
    out.push(`${paint(f.severity, f.severity.toUpperCase().padEnd(8))} ${where}`);
    out.push(`         ${f.message}${f.family ? ` (family: ${f.family})` : ''}`);
    out.push(`         rule ${f.rule} · ${f.category}`);
    if (f.evidence) out.push(`         evidence: ${f.evidence}`);
    if (f.remediation) {
      out.push('         remediation:');
      for (const line of f.remediation.split('\n')) out.push(`           ${line}`);
    }
    out.push('');
  }
  if (report.errors.length) {
    out.push('Errors (the scan went on):');
    for (const e of report.errors) out.push(`  ${e.path ? `${e.path}: ` : ''}${e.message}`);
    out.push('');
  }
  const counts = SEVERITIES.map((s) => `${report.summary[s]} ${s}`).join(', ');
  const s = report.stats;
  out.push(`Summary: ${counts}. ${s.filesExamined} files examined, ${s.bytesRead} bytes read, ${s.bytesHashed} hashed, ${s.durationMs} ms.`);
  return out.join('\n') + '\n';
}
