/**
 * One attribute record inside an MFT record: the common header, then either the value
 * itself (resident) or where it lies on disk (non-resident: a VCN range, the sizes and
 * the mapping pairs). Everything an NTFS file holds — names, times, data, indexes,
 * reparse data — is an attribute.
 *
 * Layout: ATTR_RECORD in ntfs-3g's layout.h and "Attribute header" in the Linux-NTFS
 * documentation. Offsets and lengths are checked against the attribute's own length,
 * and that against the record holding it.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';

export const ATTR = {
  STANDARD_INFORMATION: 0x10,
  ATTRIBUTE_LIST: 0x20,
  FILE_NAME: 0x30,
  DATA: 0x80,
  INDEX_ROOT: 0x90,
  INDEX_ALLOCATION: 0xa0,
  BITMAP: 0xb0,
  REPARSE_POINT: 0xc0,
  END: 0xffffffff,
} as const;

export const ATTR_FLAG = { COMPRESSED: 0x0001, ENCRYPTED: 0x4000, SPARSE: 0x8000 } as const;

interface AttributeCommon {
  type: number;
  /** The attribute's name ("" for the unnamed $DATA, "$I30" for directory indexes). */
  name: string;
  flags: number;
  /** attribute_instance: unique within its record. */
  instance: number;
  /** MFT record the attribute sits in (an extension record for spread files). */
  record: number;
  /** Byte offset of the attribute header in the byte source, for errors. */
  offset: number;
}

export interface ResidentAttribute extends AttributeCommon {
  resident: true;
  value: BinaryView;
}

export interface NonResidentAttribute extends AttributeCommon {
  resident: false;
  lowestVcn: number;
  highestVcn: number;
  /** The mapping pairs, undecoded (data-runs.ts decodes them). */
  mappingPairs: BinaryView;
  /** log2 of clusters per compression unit; 0 = not compressed. */
  compressionUnit: number;
  /** Sizes: meaningful only in the extent whose lowestVcn is 0. */
  allocatedSize: number;
  dataSize: number;
  initializedSize: number;
}

export type Attribute = ResidentAttribute | NonResidentAttribute;

/** The attribute whose header starts at `at` of `rec` (a fixed-up MFT record), and its length. */
export function parseAttribute(rec: BinaryView, at: number, record: number): { attr: Attribute; length: number } {
  const offset = rec.baseOffset + at;
  const structure = `NTFS attribute of MFT record ${record}`;
  const type = rec.u32le(at);
  const length = rec.u32le(at + 4);
  if (length < 24 || length % 8 !== 0 || at + length > rec.length) {
    throw corrupt(structure, `attribute 0x${type.toString(16)} declares ${length} bytes, which does not fit the record (${rec.length - at} bytes left)`, offset + 4);
  }
  const a = rec.slice(at, length, structure);
  const nonResident = a.u8(8);
  const nameLength = a.u8(9);
  const nameOffset = a.u16le(10);
  if (nameLength > 0 && nameOffset + nameLength * 2 > length) throw corrupt(structure, `name at +${nameOffset} (${nameLength} characters) runs past the attribute`, offset + 10);
  const name = nameLength > 0 ? a.bytes(nameOffset, nameLength * 2).toString('utf16le') : '';
  const common = { type, name, flags: a.u16le(12), instance: a.u16le(14), record, offset };
  if (nonResident === 0) {
    const valueLength = a.u32le(16);
    const valueOffset = a.u16le(20);
    if (valueOffset + valueLength > length) throw corrupt(structure, `resident value at +${valueOffset} (${valueLength} bytes) runs past the ${length}-byte attribute`, offset + 16);
    return { attr: { ...common, resident: true, value: a.slice(valueOffset, valueLength) }, length };
  }
  if (nonResident !== 1) throw corrupt(structure, `non-resident flag is ${nonResident}`, offset + 8);
  const lowestVcn = a.u64le(16);
  // Signed: an attribute with no clusters says -1.
  const highestVcn = Number(a.bytes(24, 8).readBigInt64LE(0));
  if (highestVcn < -1 || highestVcn > Number.MAX_SAFE_INTEGER) throw corrupt(structure, `highest VCN ${highestVcn} is impossible`, offset + 24);
  const pairsOffset = a.u16le(32);
  if (pairsOffset < 64 || pairsOffset > length) throw corrupt(structure, `mapping pairs offset ${pairsOffset} is outside the ${length}-byte attribute`, offset + 32);
  const sizes = { allocatedSize: a.u64le(40), dataSize: a.u64le(48), initializedSize: a.u64le(56) };
  if (highestVcn + 1 < lowestVcn) throw corrupt(structure, `VCN range ${lowestVcn}..${highestVcn} is reversed`, offset + 16);
  return {
    attr: { ...common, resident: false, lowestVcn, highestVcn, mappingPairs: a.slice(pairsOffset, length - pairsOffset), compressionUnit: a.u8(34), ...sizes },
    length,
  };
}
