/**
 * The one shape every check reports, as the JSON report contract fixes it.
 */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  /** Id of the rule that fired, e.g. "cron.download-and-run". */
  rule: string;
  /** e.g. "persistence/cron", "accounts", "integrity". */
  category: string;
  severity: Severity;
  /** Absolute path inside the scanned root. */
  path: string;
  /** 1-based line number when the finding is about one line of a text file. */
  line?: number;
  message: string;
  /** The bytes that made the rule fire (a cron line, a key fingerprint), cut to a sane length. */
  evidence: string;
  /** Malware family whose indicators matched, e.g. "kinsing". */
  family?: string;
  /** What an operator runs to remove it; minescan never runs it. */
  remediation: string;
  /** Times of the file at `path` (seconds since the epoch), filled by the engine after the checks ran. */
  times?: FileTimes;
  /** Mining pools and wallets the evidence names, so an operator can block them. */
  indicators?: MinerIndicators;
  /** Links between a persistence point and the file it starts, filled by the engine's correlation pass. */
  related?: RelatedFindings;
}

export interface FileTimes {
  mtime: number;
  ctime: number;
  crtime?: number;
}

export interface MinerIndicators {
  /** Pool endpoints as written, normalised to "host:port" (port omitted when unknown). */
  pools: string[];
  /** Wallet addresses (Monero and others) as written. */
  wallets: string[];
}

export interface RelatedFindings {
  /** "path:line" of the persistence points that start this file. */
  startedBy?: string[];
  /** Files this persistence line starts that have findings of their own. */
  starts?: string[];
}

/** Higher is more severe; `info` is 0. */
export function severityRank(s: Severity): number {
  return SEVERITIES.length - 1 - SEVERITIES.indexOf(s);
}

export function isSeverity(s: string): s is Severity {
  return (SEVERITIES as readonly string[]).includes(s);
}

const MAX_EVIDENCE = 500;

export function clipEvidence(text: string): string {
  const oneLine = text.replace(/\r?\n/g, '\\n');
  return oneLine.length > MAX_EVIDENCE ? `${oneLine.slice(0, MAX_EVIDENCE)}…` : oneLine;
}
