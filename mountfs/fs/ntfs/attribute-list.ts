/**
 * $ATTRIBUTE_LIST: when a file's attributes do not fit its base MFT record (many hard
 * links, a heavily fragmented file), the base record holds this list of every attribute
 * and the record it lives in (the base record or extension records).
 *
 * Layout: ATTR_LIST_ENTRY in ntfs-3g's layout.h and "$ATTRIBUTE_LIST" in the Linux-NTFS
 * documentation. Entries are bounded by the list's bytes (each at least 26); a list that
 * names the same attribute extent twice is a loop and is refused.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { mftRecordNumber } from './mft-record.js';

export interface AttributeListEntry {
  type: number;
  name: string;
  lowestVcn: number;
  record: number;
  instance: number;
}

export function parseAttributeList(v: BinaryView): AttributeListEntry[] {
  const entries: AttributeListEntry[] = [];
  const seen = new Set<string>();
  let at = 0;
  while (at + 26 <= v.length) {
    const type = v.u32le(at);
    const length = v.u16le(at + 4);
    if (length < 26 || at + length > v.length) throw corrupt(v.structure, `attribute list entry of ${length} bytes does not fit the list`, v.baseOffset + at + 4);
    const nameLength = v.u8(at + 6);
    const nameOffset = v.u8(at + 7);
    if (nameOffset + nameLength * 2 > length) throw corrupt(v.structure, 'attribute list entry name runs past the entry', v.baseOffset + at + 7);
    const name = v.bytes(at + nameOffset, nameLength * 2).toString('utf16le');
    const lowestVcn = v.u64le(at + 8);
    const record = mftRecordNumber(v.bytes(at + 16, 8).readBigUInt64LE(0));
    const key = `${type}:${name}:${lowestVcn}:${record}:${v.u16le(at + 24)}`;
    if (seen.has(key)) throw corrupt(v.structure, `attribute list names attribute 0x${type.toString(16)} in MFT record ${record} twice (a loop)`, v.baseOffset + at);
    seen.add(key);
    entries.push({ type, name, lowestVcn, record, instance: v.u16le(at + 24) });
    at += length;
  }
  return entries;
}
