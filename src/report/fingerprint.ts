/**
 * A finding's identity across scans of the same server: the rule, the volume and path,
 * and the evidence with the differences that do not make it another finding taken out
 * (runs of whitespace, the clipping mark, times: "modified 2026-11-03T01:02:03.000Z"
 * in a file finding's evidence changes with a touch, not with the file). Line numbers are
 * left out, so a line added above a cron entry does not make it a new finding.
 * SARIF's partialFingerprints and `minescan diff` both match findings by it.
 */
import { createHash } from 'node:crypto';
import type { ReportFinding } from '../model/report.js';

/** Bumped when what the fingerprint covers changes; SARIF names the fingerprint with it. */
export const FINGERPRINT_NAME = 'minescanFinding/v1';

/** The evidence as the fingerprint sees it: whitespace runs as one space, ISO times as <time>, no clipping mark, trimmed. */
export function normaliseEvidence(evidence: string): string {
  return evidence
    .replace(/…$/u, '')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z/g, '<time>')
    .replace(/(?:\\n|\s)+/gu, ' ')
    .trim();
}

export function fingerprint(f: Pick<ReportFinding, 'rule' | 'path' | 'evidence' | 'volume'>): string {
  return createHash('sha256')
    .update([f.rule, f.volume ?? '', f.path, normaliseEvidence(f.evidence)].join('\0'))
    .digest('hex');
}
