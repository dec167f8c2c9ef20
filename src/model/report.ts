/**
 * The JSON report contract. Later tools (fleet summaries, CI gates, external checks)
 * read this shape: change it only by adding fields, and bump SCHEMA_VERSION when a
 * field changes meaning.
 *
 * Times: findings[].times are seconds since the epoch, as Finding declares, with the
 * fraction the filesystem stores (ext4 and XFS keep nanoseconds): an analyst looks for
 * timestomping there (`touch -d` leaves a zero fraction), which a millisecond string
 * would hide. Everything in the timeline section, written to be read, is ISO-8601 in
 * UTC with milliseconds ("2026-03-01T04:05:06.789Z"), like startedAt.
 *
 * The volume listing and the error kinds are mountfs's own shapes, named with `import
 * type` (erased at build): mountfs is the layer below all of src/, and a copy here
 * could drift from what the readers report (test/layers.test.ts holds the rule).
 */
import type { Finding, Severity } from './finding.js';
import type { VolumeReport, SourceKind } from '../../mountfs/open-target.js';
import type { MountfsErrorKind } from '../../mountfs/errors.js';
import type { Platform } from './check.js';

export const SCHEMA_VERSION = 1;

export interface ReportFinding extends Finding {
  /** Index into source.volumes when the disk held more than one scanned filesystem. */
  volume?: number;
  /** Set when an entry of the --ignore file accepts the finding: it is listed, and does not count for --fail-on. */
  suppressed?: FindingSuppression;
}

/** Why a finding was accepted: an entry of the --ignore file. */
export interface FindingSuppression {
  /** The entry's reason, as written. */
  reason: string;
  /** "FILE:LINE" of the entry. */
  entry: string;
  /** The entry's expiry date (YYYY-MM-DD), when it has one. */
  expires?: string;
}

/** What the --ignore file did to this report. */
export interface ReportSuppressions {
  /** The ignore file, as named on the command line. */
  file: string;
  /** Findings an entry accepted. */
  suppressed: number;
  /** Entries for this target whose expiry date has passed: they no longer suppress anything. */
  expired: ExpiredIgnoreEntry[];
}

export interface ExpiredIgnoreEntry {
  /** "FILE:LINE" of the entry. */
  entry: string;
  rule: string;
  path: string;
  reason: string;
  expires: string;
  /** Findings it would have accepted, now counted again. */
  findings: number;
}

export interface ReportTimes {
  mtime: string;
  /** Inode change time: an attacker who resets mtime (touch -r) still moves it. */
  ctime: string;
  /** Creation time, where the filesystem records it (ext4, XFS v5). */
  crtime?: string;
}

/** Findings in the order their files changed, and what else changed around the first serious one. */
export interface ReportTimeline {
  /** Every finding whose file has times, by index into `findings`, earliest change first. */
  entries: TimelineEntry[];
  /** Around the earliest change among high and critical findings; null when there is none. */
  window: TimelineWindow | null;
  /**
   * Files the persistence checks examined, and files persistence points start, that
   * changed (mtime or ctime) inside the window and have no finding of their own: often
   * the rest of an intrusion. Earliest change first.
   */
  changedFiles: ChangedFile[];
  /** Files that changed inside the window but were left out of changedFiles (it is bounded). */
  changedFilesOmitted: number;
  /** Examined files whose times were not read because of the bound on stats. */
  examinedNotChecked: number;
}

export interface TimelineEntry {
  /** Index into `findings`. */
  finding: number;
  /** When its file changed: its ctime, or its mtime when the filesystem keeps no ctime. */
  changed: string;
  basis: 'ctime' | 'mtime';
}

export interface TimelineWindow {
  start: string;
  end: string;
  /** Index into `findings` of the high or critical finding whose file changed first. */
  anchor: number;
  beforeSeconds: number;
  afterSeconds: number;
}

export interface ChangedFile {
  path: string;
  volume?: number;
  /**
   * The persistence check that examined it (cron, services, ssh-keys, ld-preload,
   * accounts, ...), or the check that hashed it when it is a file a persistence point starts.
   */
  place: string;
  times: ReportTimes;
}

/** Firewall and security-group suggestions for the pools the findings name; minescan applies none. */
export interface ReportBlocklist {
  notes: string[];
  pools: BlocklistPool[];
  /** For the abuse contact of the pools. */
  wallets: BlocklistWallet[];
  /** Suggestions that cover every pool at once (cloud DNS firewalls, security-group notes). */
  cloud: BlocklistSuggestion[];
  /** Pools and wallets left out because the lists are bounded. */
  omitted: { pools: number; wallets: number };
}

export interface BlocklistPool {
  /** "host:port", or "host" when no finding names a port. */
  pool: string;
  host: string;
  port?: number;
  /** Indices into `findings` of the findings that name it. */
  findings: number[];
  entries: BlocklistSuggestion[];
}

export interface BlocklistWallet {
  wallet: string;
  findings: number[];
  /** Pools named by the same findings. */
  pools: string[];
}

export interface BlocklistSuggestion {
  /** "iptables", "nftables", "dns-sinkhole", "aliyun-security-group", "aws-dns-firewall", ... */
  kind: string;
  text: string;
}

/**
 * Why something was not read: the MountfsError kinds (`corrupt`, `unsupported`, `io`,
 * `limit`, `not-found`), `interrupted` (the run was stopped), `check-failed` (a check
 * stopped on an error of its own), `other` (a check said it could not do everything).
 */
export type ReportErrorKind = MountfsErrorKind | 'interrupted' | 'check-failed' | 'other';

/**
 * Something the scan needed and did not read: any entry makes the report incomplete.
 * The same error met again (same kind, path, structure, offset and message) is one
 * entry with a count.
 */
export interface ReportError {
  kind: ReportErrorKind;
  message: string;
  path?: string;
  volume?: number;
  /** The on-disk structure involved, e.g. "ext4 extent header", "EBS block". */
  structure?: string;
  /** Byte offset of that structure in its byte source. */
  offset?: number;
  /** The check (or the scan phase) that stopped. */
  check?: string;
  /** How many times it occurred, when more than once. */
  count?: number;
}

/** What one scanned root (a filesystem) was judged as: only the checks made for that platform ran on it. */
export interface RootReport {
  /** Index into source.volumes when the disk held more than one scanned filesystem. */
  volume?: number;
  platform: Platform;
  /** What the verdict rests on: the hive found, or what was missing. */
  evidence: string;
}

/** `incomplete` when `errors` is not empty: something the checks needed was not read. */
export type ScanStatus = 'complete' | 'incomplete';

export interface ScanReport {
  schemaVersion: number;
  tool: { name: string; version: string };
  target: string;
  startedAt: string;
  finishedAt: string;
  /** null when the target could not be read at all. */
  source: { kind: SourceKind; format: string; volumes: VolumeReport[] } | null;
  findings: ReportFinding[];
  /** Each scanned root and the platform it was judged as (absent in reports written before it existed). */
  roots?: RootReport[];
  summary: Record<Severity, number>;
  timeline: ReportTimeline;
  blocklist: ReportBlocklist;
  stats: { filesExamined: number; bytesRead: number; bytesHashed: number; durationMs: number };
  /** The verdict: a clean report of a disk that was not fully read is not clean. */
  status: ScanStatus;
  errors: ReportError[];
  /** Errors left out of `errors`, which is bounded (they count towards `incomplete` too). */
  errorsOmitted: number;
  /** Worth saying, but nothing was missed (a qcow2 dirty bit, a damaged header whose copy was used). */
  notes: string[];
  /** Present when the scan was given an --ignore file. */
  suppressions?: ReportSuppressions;
}
