/**
 * $STANDARD_INFORMATION: the times Windows shows and updates (creation, modification,
 * MFT change, last access) and the DOS attributes (read-only, hidden, system, ...).
 *
 * Layout: STANDARD_INFORMATION in ntfs-3g's layout.h. Times are 100 ns intervals since
 * 1601-01-01 UTC.
 */
import type { BinaryView } from '../../binary.js';

export const FILE_ATTR = {
  READONLY: 0x1,
  HIDDEN: 0x2,
  SYSTEM: 0x4,
  DIRECTORY: 0x10,
  ARCHIVE: 0x20,
  SPARSE_FILE: 0x200,
  REPARSE_POINT: 0x400,
  COMPRESSED: 0x800,
  ENCRYPTED: 0x4000,
} as const;

export interface StandardInformation {
  /** Seconds since the Unix epoch. */
  created: number;
  modified: number;
  mftChanged: number;
  accessed: number;
  attributes: number;
}

const EPOCH_DIFF_100NS = 116444736000000000n;

/** An NTFS time (100 ns since 1601) as fractional seconds since 1970. */
export function ntfsTime(v: BinaryView, at: number): number {
  const t = v.bytes(at, 8).readBigUInt64LE(0) - EPOCH_DIFF_100NS;
  return Number(t / 10n) / 1e6;
}

export function parseStandardInformation(v: BinaryView): StandardInformation {
  return { created: ntfsTime(v, 0), modified: ntfsTime(v, 8), mftChanged: ntfsTime(v, 16), accessed: ntfsTime(v, 24), attributes: v.u32le(32) };
}
