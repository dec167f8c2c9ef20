/**
 * How check tests compare findings with what they planted: whole lists of one-line
 * summaries or of rule/severity/path/line rows, sorted so the order checks report in
 * does not matter, and the findings a clean server must not raise.
 */
import { severityRank, type Finding } from '../../src/model/finding.js';

/** "severity rule path:line [family]" per finding, sorted. */
export function findingSummary(findings: readonly Finding[]): string[] {
  return findings.map((f) => `${f.severity} ${f.rule} ${f.path}${f.line !== undefined ? `:${f.line}` : ''}${f.family ? ` [${f.family}]` : ''}`).sort();
}

export type FindingRow = [rule: string, severity: string, path: string, line: number | undefined];

/** Rows as sorted "rule|severity|path|line" keys, to compare two tables whole. */
export function rowKeys(rows: readonly FindingRow[]): string[] {
  return rows.map((r) => r.join('|')).sort();
}

/** The findings as rowKeys rows. */
export function findingRowKeys(findings: readonly Finding[]): string[] {
  return rowKeys(findings.map((f): FindingRow => [f.rule, f.severity, f.path, f.line]));
}

/** What an ordinary server may not raise. */
export function mediumOrAbove(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));
}

/** Findings whose message or remediation still holds a pack template variable ("{where}", "{path:q}") the check left unfilled. */
export function unfilledTemplates(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => /\{[a-zA-Z]+(?::q)?\}/.test(`${f.message}\n${f.remediation}`));
}
