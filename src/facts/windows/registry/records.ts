/**
 * The cell records of a regf hive, parsed from one cell's bytes (a BinaryView that
 * throws a corrupt error naming the record and its file offset on any read outside the
 * cell). Layouts as the Windows registry file format specification (Maxim Suhanov)
 * describes them:
 *   nk  key node: flags, last written, parent, subkey count and list, value count and
 *       list, security (sk) cell, class name, name (compressed Latin-1 or UTF-16LE);
 *   vk  key value: name, data size (bit 31: the data sits in the offset field itself),
 *       data offset, type, flags (bit 0: compressed name);
 *   lf/lh (offset + name hint or hash), li (offsets), ri (offsets of lf/lh/li lists);
 *   db  big data: a list of segments, each at most 16344 bytes;
 *   sk  security descriptor shared by keys.
 */
import type { BinaryView } from '../../../../mountfs/binary.js';
import { corrupt } from '../../../../mountfs/errors.js';

/** The offset that means "no cell". */
export const NO_CELL = 0xffffffff;

export interface KeyNode {
  /** Offset of the nk cell, relative to the hive bins data. */
  cell: number;
  name: string;
  flags: number;
  lastWritten: bigint;
  parent: number;
  subkeyCount: number;
  subkeyList: number;
  valueCount: number;
  valueList: number;
  security: number;
}

export interface ValueNode {
  cell: number;
  /** '' for the key's default value. */
  name: string;
  type: number;
  /** Bytes of data, as the record declares them. */
  size: number;
  /** The data itself when it is stored in the record (4 bytes or fewer). */
  resident?: Buffer;
  /** Otherwise the cell holding it (or the db record of a big value). */
  dataCell: number;
}

const KEY_COMP_NAME = 0x0020;
const VALUE_COMP_NAME = 0x0001;

function signature(v: BinaryView, want: string): void {
  const sig = v.bytes(0, 2).toString('latin1');
  if (sig !== want) throw corrupt(v.structure, `signature "${printable(sig)}" where "${want}" was expected`, v.baseOffset);
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

export function decodeName(bytes: Buffer, compressed: boolean): string {
  return compressed ? bytes.toString('latin1') : bytes.subarray(0, bytes.length & ~1).toString('utf16le');
}

export function parseKeyNode(v: BinaryView, cell: number): KeyNode {
  signature(v, 'nk');
  const flags = v.u16le(2);
  const nameLength = v.u16le(72);
  return {
    cell,
    name: decodeName(v.bytes(76, nameLength), (flags & KEY_COMP_NAME) !== 0),
    flags,
    lastWritten: v.bytes(4, 8).readBigUInt64LE(0),
    parent: v.u32le(16),
    subkeyCount: v.u32le(20),
    subkeyList: v.u32le(28),
    valueCount: v.u32le(36),
    valueList: v.u32le(40),
    security: v.u32le(44),
  };
}

export function parseValueNode(v: BinaryView, cell: number): ValueNode {
  signature(v, 'vk');
  const nameLength = v.u16le(2);
  const rawSize = v.u32le(4);
  const dataCell = v.u32le(8);
  const type = v.u32le(12);
  const flags = v.u16le(16);
  const name = decodeName(v.bytes(20, nameLength), (flags & VALUE_COMP_NAME) !== 0);
  if (rawSize & 0x80000000) {
    const size = rawSize & 0x7fffffff;
    // Data of 4 bytes or fewer lives in the offset field; anything larger there is damage.
    if (size > 4) throw corrupt(v.structure, `value "${name}" declares ${size} bytes stored in its 4-byte offset field`, v.baseOffset + 4);
    return { cell, name, type, size, resident: Buffer.from(v.bytes(8, size)), dataCell: NO_CELL };
  }
  return { cell, name, type, size: rawSize, dataCell };
}

export type SubkeyListKind = 'lf' | 'lh' | 'li' | 'ri';

export interface SubkeyList {
  kind: SubkeyListKind;
  /** Offsets of nk cells (lf, lh, li) or of other lists (ri). */
  offsets: number[];
  /** lh: the name hash of each entry, to skip keys that cannot match a lookup. */
  hashes?: number[];
}

export function parseSubkeyList(v: BinaryView): SubkeyList {
  const kind = v.bytes(0, 2).toString('latin1');
  const count = v.u16le(2);
  const offsets: number[] = [];
  switch (kind) {
    case 'lf':
    case 'lh': {
      if (4 + count * 8 > v.length) throw corrupt(v.structure, `${count} entries do not fit in the ${v.length}-byte ${kind} list`, v.baseOffset + 2);
      const hashes: number[] = [];
      for (let i = 0; i < count; i++) {
        offsets.push(v.u32le(4 + i * 8));
        hashes.push(v.u32le(8 + i * 8));
      }
      return kind === 'lh' ? { kind, offsets, hashes } : { kind, offsets };
    }
    case 'li':
    case 'ri':
      if (4 + count * 4 > v.length) throw corrupt(v.structure, `${count} entries do not fit in the ${v.length}-byte ${kind} list`, v.baseOffset + 2);
      for (let i = 0; i < count; i++) offsets.push(v.u32le(4 + i * 4));
      return { kind, offsets };
    default:
      throw corrupt(v.structure, `signature "${printable(kind)}" is not a subkey list (lf, lh, li, ri)`, v.baseOffset);
  }
}

/** The lh hash of a name: h = 37h + upcase(c) over its UTF-16 units. */
export function nameHash(name: string): number {
  let h = 0;
  const upper = name.toUpperCase();
  for (let i = 0; i < upper.length; i++) h = (Math.imul(h, 37) + upper.charCodeAt(i)) >>> 0;
  return h;
}

export interface BigData {
  segments: number;
  list: number;
}

export function parseBigData(v: BinaryView): BigData {
  signature(v, 'db');
  return { segments: v.u16le(2), list: v.u32le(4) };
}

/** The raw self-relative security descriptor of an sk cell. */
export function parseSecurity(v: BinaryView): Buffer {
  signature(v, 'sk');
  const size = v.u32le(16);
  return Buffer.from(v.bytes(20, size));
}
