/**
 * The regf base block: the first 4096 bytes of a hive file (and of its transaction logs).
 * Layout as the Windows registry file format specification (Maxim Suhanov) gives it:
 * "regf", primary and secondary sequence numbers (equal when the hive was written
 * cleanly; different when a write was interrupted, so recent changes may sit in the
 * .LOG1/.LOG2 files), last written time, format version 1.x, file type (0 primary,
 * 1 and 6 transaction logs), root cell offset, the length of the hive bins data, and
 * at 508 an XOR checksum of the 508 bytes before it.
 */
import { BinaryView } from '../../../../mountfs/binary.js';
import { corrupt, unsupported } from '../../../../mountfs/errors.js';

export const BASE_BLOCK_SIZE = 4096;
const STRUCTURE = 'registry base block';

export interface BaseBlock {
  primarySequence: number;
  secondarySequence: number;
  /** Last written, as a Windows FILETIME (100 ns since 1601), kept as a bigint. */
  lastWritten: bigint;
  majorVersion: number;
  minorVersion: number;
  /** 0 primary hive, 1 old-format log, 2 external, 6 new-format log (HvLE entries). */
  fileType: number;
  /** Offset of the root key cell, relative to the start of the hive bins data. */
  rootCell: number;
  /** Length of the hive bins data that follows the base block. */
  hiveBinsSize: number;
  /** The name Windows stored (the tail of the hive's path), for messages. */
  fileName: string;
  checksumOk: boolean;
  /** The sequence numbers differ: an interrupted write, recent changes may be in the logs. */
  dirty: boolean;
}

/** The checksum as Windows computes it: XOR of the first 127 dwords, 0 and -1 avoided. */
export function baseBlockChecksum(view: BinaryView): number {
  let x = 0;
  for (let o = 0; o < 508; o += 4) x ^= view.u32le(o);
  x >>>= 0;
  if (x === 0xffffffff) return 0xfffffffe;
  if (x === 0) return 1;
  return x;
}

/** The part of a base block a transaction log keeps (its first sector): what the checksum covers. */
export const LOG_BASE_BLOCK_SIZE = 512;

export function parseBaseBlock(buf: Buffer, fileOffset = 0): BaseBlock {
  if (buf.length < LOG_BASE_BLOCK_SIZE) throw corrupt(STRUCTURE, `only ${buf.length} bytes, a base block has ${BASE_BLOCK_SIZE}`, fileOffset);
  const v = new BinaryView(buf.subarray(0, Math.min(buf.length, BASE_BLOCK_SIZE)), STRUCTURE, fileOffset);
  if (v.bytes(0, 4).toString('latin1') !== 'regf') throw corrupt(STRUCTURE, 'no "regf" signature: not a registry hive', fileOffset);
  const majorVersion = v.u32le(20);
  const minorVersion = v.u32le(24);
  if (majorVersion !== 1) throw unsupported(STRUCTURE, `format version ${majorVersion}.${minorVersion} (minescan reads 1.x)`, fileOffset + 20);
  const primarySequence = v.u32le(4);
  const secondarySequence = v.u32le(8);
  const nameBytes = v.bytes(48, 64);
  let end = 0;
  while (end + 1 < nameBytes.length && (nameBytes[end] !== 0 || nameBytes[end + 1] !== 0)) end += 2;
  return {
    primarySequence,
    secondarySequence,
    lastWritten: buf.readBigUInt64LE(12),
    majorVersion,
    minorVersion,
    fileType: v.u32le(28),
    rootCell: v.u32le(36),
    hiveBinsSize: v.u32le(40),
    fileName: nameBytes.subarray(0, end).toString('utf16le'),
    checksumOk: baseBlockChecksum(v) === v.u32le(508),
    dirty: primarySequence !== secondarySequence,
  };
}
