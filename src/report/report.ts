/**
 * The JSON report contract. Later tools (fleet summaries, CI gates, external checks)
 * read this shape: change it only by adding fields, and bump SCHEMA_VERSION when a
 * field changes meaning.
 */
import type { Finding, Severity } from '../engine/finding.js';
import type { VolumeReport, SourceKind } from '../../mountfs/open-target.js';

export const SCHEMA_VERSION = 1;

export interface ReportFinding extends Finding {
  /** Index into source.volumes when the disk held more than one scanned filesystem. */
  volume?: number;
}

export interface ReportError {
  path?: string;
  message: string;
  volume?: number;
}

export interface ScanReport {
  schemaVersion: number;
  tool: { name: string; version: string };
  target: string;
  startedAt: string;
  finishedAt: string;
  /** null when the target could not be read at all. */
  source: { kind: SourceKind; format: string; volumes: VolumeReport[] } | null;
  findings: ReportFinding[];
  summary: Record<Severity, number>;
  stats: { filesExamined: number; bytesRead: number; bytesHashed: number; durationMs: number };
  errors: ReportError[];
}
