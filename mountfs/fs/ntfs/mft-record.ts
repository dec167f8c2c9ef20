/**
 * One FILE record of the $MFT, fixups applied: its header (in use, directory, the base
 * record of an extension record, the hard link count) and its attributes in order.
 *
 * Layout: MFT_RECORD in ntfs-3g's layout.h and "FILE record" in the Linux-NTFS
 * documentation. The attribute walk is bounded by the record's bytes in use and by the
 * attributes' own lengths (each at least 24 bytes), so it always ends.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { applyFixups } from './fixups.js';
import { ATTR, parseAttribute, type Attribute } from './attribute.js';

export const RECORD_FLAG = { IN_USE: 0x1, DIRECTORY: 0x2 } as const;
/** The low 48 bits of an MFT reference are the record number, the high 16 its sequence. */
export const mftRecordNumber = (ref: bigint): number => Number(ref & 0xffffffffffffn);

export interface MftRecord {
  number: number;
  flags: number;
  sequence: number;
  linkCount: number;
  /** 0 for a base record; the base record's number for an extension record. */
  baseRecord: number;
  attributes: Attribute[];
  /** Byte offset of the record in the byte source. */
  offset: number;
}

export function parseMftRecord(raw: Buffer, number: number, offset: number): MftRecord {
  const structure = `NTFS MFT record ${number}`;
  if (raw.toString('latin1', 0, 4) !== 'FILE') {
    throw corrupt(structure, raw.toString('latin1', 0, 4) === 'BAAD' ? 'marked BAAD by chkdsk (a multi-sector transfer failed)' : 'no "FILE" signature', offset);
  }
  const v = new BinaryView(applyFixups(raw, structure, offset), structure, offset);
  const bytesInUse = v.u32le(0x18);
  if (bytesInUse > v.length || bytesInUse < 0x30) throw corrupt(structure, `${bytesInUse} bytes in use in a ${v.length}-byte record`, offset + 0x18);
  const firstAttr = v.u16le(0x14);
  if (firstAttr < 0x2a || firstAttr >= bytesInUse || firstAttr % 8 !== 0) throw corrupt(structure, `first attribute at +${firstAttr} is outside the record`, offset + 0x14);
  const attributes: Attribute[] = [];
  const used = v.slice(0, bytesInUse);
  let at = firstAttr;
  while (true) {
    if (at + 4 > bytesInUse) throw corrupt(structure, 'attributes run past the bytes in use without an end marker', offset + at);
    if (used.u32le(at) === ATTR.END) break;
    const { attr, length } = parseAttribute(used, at, number);
    attributes.push(attr);
    at += length;
  }
  return {
    number,
    flags: v.u16le(0x16),
    sequence: v.u16le(0x10),
    linkCount: v.u16le(0x12),
    baseRecord: mftRecordNumber(v.buf.readBigUInt64LE(0x20)),
    attributes,
    offset,
  };
}
