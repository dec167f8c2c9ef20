/**
 * What acquiring a cloud target takes and gives, shared by every provider's
 * acquisition (cloud/targets.ts for AWS, cloud/aliyun/acquire-disks.ts), so that
 * neither imports the other: the options, the disks acquired with their clean-up, and
 * the id that tags everything one scan creates.
 */
import { randomUUID } from 'node:crypto';
import type { ByteSource } from '../mountfs/sources/byte-source.js';
import type { DiskReport } from '../mountfs/volume-report.js';

export interface CloudOptions {
  region?: string;
  /** Overrides the endpoint of every service (tests, private endpoints). */
  endpoint?: string;
  /** Keep the snapshots minescan made (for a later look). */
  keepSnapshots?: boolean;
  /** Alibaba Cloud: the instance temporary disks are attached to (default: the one minescan runs on). */
  scannerInstance?: string;
  /** Bytes of snapshot blocks kept in memory for the whole target (default 256 MiB). */
  cacheBytes?: number;
  /** Alibaba Cloud: the scanner's zone (default: from DescribeInstances or the metadata service). */
  scannerZone?: string;
  /** Alibaba Cloud: how long an attached disk's device may take to appear. */
  deviceWaitMs?: number;
  /** The scan's signal: waits and backoffs end at once when it aborts, and the release undoes what was made. */
  signal?: AbortSignal;
}

/** One disk of a target: its bytes and who it is, root disk first. */
export interface AcquiredDisk {
  source: ByteSource;
  disk: DiskReport;
}

export interface AcquiredSources {
  disks: AcquiredDisk[];
  release(): Promise<void>;
}

/** The id every resource one scan creates is tagged with (minescan:scan-id). */
export function newScanId(): string {
  return randomUUID();
}
