/**
 * The VHDX file type identifier and the two headers (MS-VHDX 2.2.1 and 2.2.2). Each
 * header is 4 KiB, at 64 KiB and 128 KiB, protected by a CRC-32C; the valid one with
 * the higher sequence number is current. A non-zero LogGuid means the log holds
 * entries that a writer must replay before the file is consistent.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, MountfsError, unsupported } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { crc32cWithZeroedField } from '../../crc32c.js';
import { guidAt, ZERO_GUID } from './guid.js';

export const HEADER_OFFSETS = [64 * 1024, 128 * 1024] as const;
const HEADER_SIZE = 4096;

export function isVhdx(head: Buffer): boolean {
  return head.length >= 8 && head.toString('latin1', 0, 8) === 'vhdxfile';
}

export interface VhdxHeader {
  offset: number;
  sequenceNumber: bigint;
  logGuid: string;
  logOffset: number;
  logLength: number;
}

export function parseHeader(buf: Buffer, offset: number): VhdxHeader {
  const structure = 'VHDX header';
  const v = new BinaryView(buf, structure, offset);
  if (v.bytes(0, 4).toString('latin1') !== 'head') throw corrupt(structure, 'no "head" signature', offset);
  const stored = v.u32le(4);
  const computed = crc32cWithZeroedField(v.bytes(0, HEADER_SIZE), 4);
  if (stored !== computed) throw corrupt(structure, `CRC-32C 0x${stored.toString(16)} does not match the contents (0x${computed.toString(16)})`, offset + 4);
  const version = v.u16le(66);
  if (version !== 1) throw unsupported(structure, `version ${version} (only 1 is defined)`, offset + 66);
  return {
    offset,
    sequenceNumber: buf.readBigUInt64LE(8),
    logGuid: guidAt(v.bytes(48, 16), 0),
    logLength: v.u32le(68),
    logOffset: v.u64le(72),
  };
}

/** Reads both headers and returns the current one; one damaged header is survivable. */
export async function readCurrentHeader(inner: ByteSource, notes: string[]): Promise<VhdxHeader> {
  const valid: VhdxHeader[] = [];
  const errors: MountfsError[] = [];
  for (const at of HEADER_OFFSETS) {
    try {
      const buf = await inner.read(at, HEADER_SIZE);
      if (buf.length < HEADER_SIZE) throw corrupt('VHDX header', 'the file ends inside the header', at + buf.length);
      valid.push(parseHeader(buf, at));
    } catch (err) {
      if (!(err instanceof MountfsError)) throw err;
      errors.push(err);
    }
  }
  if (valid.length === 0) throw errors[0]!;
  if (errors.length > 0) notes.push(`one VHDX header is damaged (${errors[0]!.message}); the other was used`);
  valid.sort((a, b) => (a.sequenceNumber > b.sequenceNumber ? -1 : a.sequenceNumber < b.sequenceNumber ? 1 : 0));
  return valid[0]!;
}

export function logIsEmpty(h: VhdxHeader): boolean {
  return h.logGuid === ZERO_GUID;
}
