/**
 * What changed between two audits (`minescan diff`): findings matched by their
 * fingerprint (rule, path, normalised evidence; fingerprint.ts), never by line number,
 * so a line added above a cron entry leaves it unchanged. Reports are paired by target
 * (a fleet's by instance); a target on one side only is all new or all resolved. A
 * finding suppressed by --ignore in the old audit and no longer in the new one (its
 * entry expired or was removed) is `unsuppressed`: it counts again.
 */
import { severityRank, type Severity } from '../model/finding.js';
import type { ReportFinding, ScanReport } from '../model/report.js';
import { fingerprint } from './fingerprint.js';

export interface DiffFinding extends ReportFinding {
  fingerprint: string;
}

export interface TargetDiff {
  /** The target (a fleet's REGION/INSTANCE). */
  target: string;
  /** `both` when the target is in both audits; else the side it is on. */
  in: 'both' | 'old' | 'new';
  new: DiffFinding[];
  resolved: DiffFinding[];
  unsuppressed: DiffFinding[];
  unchanged: number;
  /** The new audit's scan of it was incomplete: a finding listed as resolved may only not have been read. */
  incomplete: boolean;
}

export interface AuditDiff {
  old: string;
  new: string;
  targets: TargetDiff[];
  totals: { new: number; resolved: number; unsuppressed: number; unchanged: number };
}

/** One side of a diff: reports by the key that pairs them with the other side. */
export type AuditSide = Map<string, ScanReport>;

export function diffAudits(oldName: string, oldSide: AuditSide, newName: string, newSide: AuditSide): AuditDiff {
  const keys = [...new Set([...oldSide.keys(), ...newSide.keys()])].sort();
  const targets = keys.map((key) => diffTarget(key, oldSide.get(key), newSide.get(key)));
  const sum = (f: (t: TargetDiff) => number) => targets.reduce((n, t) => n + f(t), 0);
  return {
    old: oldName,
    new: newName,
    targets,
    totals: { new: sum((t) => t.new.length), resolved: sum((t) => t.resolved.length), unsuppressed: sum((t) => t.unsuppressed.length), unchanged: sum((t) => t.unchanged) },
  };
}

function diffTarget(key: string, before: ScanReport | undefined, after: ScanReport | undefined): TargetDiff {
  const byPrint = (r: ScanReport | undefined) => {
    const out = new Map<string, DiffFinding[]>();
    for (const f of r?.findings ?? []) {
      const print = fingerprint(f);
      out.set(print, [...(out.get(print) ?? []), { ...f, fingerprint: print }]);
    }
    return out;
  };
  const was = byPrint(before);
  const now = byPrint(after);
  const result: TargetDiff = { target: key, in: before && after ? 'both' : before ? 'old' : 'new', new: [], resolved: [], unsuppressed: [], unchanged: 0, incomplete: after?.status === 'incomplete' };
  for (const print of new Set([...was.keys(), ...now.keys()])) {
    const a = was.get(print) ?? [];
    const b = now.get(print) ?? [];
    const kept = Math.min(a.length, b.length);
    result.unchanged += kept;
    // The same finding twice (one line in two places) pairs in order; the rest is new or resolved.
    for (let i = 0; i < kept; i++) if (a[i]!.suppressed && !b[i]!.suppressed) result.unsuppressed.push(b[i]!);
    result.new.push(...b.slice(kept));
    result.resolved.push(...a.slice(kept));
  }
  return result;
}

/** Findings the diff raises at or above the threshold: new or unsuppressed, and not suppressed now. */
export function failingChanges(diff: AuditDiff, failOn: Severity): DiffFinding[] {
  return diff.targets.flatMap((t) => [...t.new, ...t.unsuppressed]).filter((f) => !f.suppressed && severityRank(f.severity) >= severityRank(failOn));
}

export function renderDiffJson(diff: AuditDiff): string {
  return JSON.stringify(diff, null, 2) + '\n';
}

export function renderDiffText(diff: AuditDiff): string {
  const out = [`minescan diff ${diff.old} → ${diff.new}`, ''];
  const line = (label: string, f: DiffFinding) =>
    `  ${label.padEnd(13)} ${f.severity.toUpperCase().padEnd(8)} ${f.volume !== undefined ? `[volume ${f.volume}] ` : ''}${f.path}${f.line !== undefined ? `:${f.line}` : ''}  ${f.rule} — ${f.message}${f.suppressed ? ` (suppressed: ${f.suppressed.reason})` : ''}`;
  for (const t of diff.targets) {
    if (t.new.length + t.resolved.length + t.unsuppressed.length === 0 && t.in === 'both' && !t.incomplete) continue;
    out.push(`${t.target}${t.in === 'old' ? ' (only in the old audit)' : t.in === 'new' ? ' (only in the new audit)' : ''}`);
    if (t.incomplete) out.push('  the new scan is INCOMPLETE: what it lists as resolved may only not have been read');
    for (const f of t.new) out.push(line('NEW', f));
    for (const f of t.unsuppressed) out.push(line('UNSUPPRESSED', f));
    for (const f of t.resolved) out.push(line('RESOLVED', f));
    out.push(`  ${t.unchanged} unchanged`, '');
  }
  const { totals } = diff;
  out.push(`${totals.new} new, ${totals.unsuppressed} no longer suppressed, ${totals.resolved} resolved, ${totals.unchanged} unchanged, over ${diff.targets.length} target(s).`);
  return out.join('\n') + '\n';
}
