/**
 * Directory index nodes: the $INDEX_ROOT value (the B+tree's root, resident in the
 * directory's MFT record) and INDX records (the other nodes, in $INDEX_ALLOCATION, with
 * fixups), both holding an index header and a run of index entries. For a directory
 * ($I30) each entry's key is a $FILE_NAME; an entry may point to a child node by its
 * VCN, and the last entry of a node has no key.
 *
 * Layout: INDEX_ROOT, INDEX_BLOCK, INDEX_HEADER and INDEX_ENTRY in ntfs-3g's layout.h,
 * "$INDEX_ROOT" / "$INDEX_ALLOCATION" in the Linux-NTFS documentation. Entries are
 * bounded by the header's index length (each at least 16 bytes), which is bounded by
 * the node.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { applyFixups } from './fixups.js';
import { parseFileName, type FileName } from './file-name.js';
import { mftRecordNumber } from './mft-record.js';

const ENTRY_HAS_CHILD = 0x1;
const ENTRY_LAST = 0x2;
const HEADER_LARGE_INDEX = 0x1;

export interface IndexEntry {
  record: number;
  name: FileName;
}

export interface IndexNode {
  entries: IndexEntry[];
  /** VCNs of the child nodes, in key order. */
  children: number[];
}

export interface IndexRoot extends IndexNode {
  /** Bytes in one INDX record of this index. */
  blockSize: number;
  /** The root says there are nodes in $INDEX_ALLOCATION. */
  large: boolean;
}

/** The entries of the index header at `at` of `v` (entries offsets are relative to the header). */
function parseNode(v: BinaryView, at: number): IndexNode & { flags: number } {
  const entriesOffset = v.u32le(at);
  const indexLength = v.u32le(at + 4);
  const flags = v.u8(at + 12);
  if (entriesOffset < 16 || entriesOffset > indexLength || at + indexLength > v.length) {
    throw corrupt(v.structure, `index entries at +${entriesOffset}..+${indexLength} do not fit the ${v.length - at}-byte node`, v.baseOffset + at);
  }
  const node: IndexNode & { flags: number } = { entries: [], children: [], flags };
  const end = at + indexLength;
  let pos = at + entriesOffset;
  while (true) {
    if (pos + 16 > end) throw corrupt(v.structure, 'index entries run past the node without a last entry', v.baseOffset + pos);
    const length = v.u16le(pos + 8);
    const keyLength = v.u16le(pos + 10);
    const entryFlags = v.u16le(pos + 12);
    if (length < 16 || length % 8 !== 0 || pos + length > end) throw corrupt(v.structure, `index entry of ${length} bytes does not fit the node`, v.baseOffset + pos + 8);
    if (entryFlags & ENTRY_HAS_CHILD) {
      if (length < 24) throw corrupt(v.structure, 'index entry with a child node is too short for its VCN', v.baseOffset + pos + 8);
      const vcn = v.bytes(pos + length - 8, 8).readBigInt64LE(0);
      if (vcn < 0n || vcn > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(v.structure, `child node VCN ${vcn} is impossible`, v.baseOffset + pos + length - 8);
      node.children.push(Number(vcn));
    }
    if (entryFlags & ENTRY_LAST) break;
    if (16 + keyLength > length || keyLength < 0x42) throw corrupt(v.structure, `index key of ${keyLength} bytes does not fit its ${length}-byte entry`, v.baseOffset + pos + 10);
    node.entries.push({ record: mftRecordNumber(v.bytes(pos, 8).readBigUInt64LE(0)), name: parseFileName(v.slice(pos + 16, keyLength)) });
    pos += length;
  }
  return node;
}

/** The $INDEX_ROOT value of a directory index. */
export function parseIndexRoot(value: BinaryView): IndexRoot {
  const type = value.u32le(0);
  if (type !== 0x30) throw corrupt(value.structure, `index root indexes attribute 0x${type.toString(16)}, not $FILE_NAME`, value.baseOffset);
  const blockSize = value.u32le(8);
  if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0 || blockSize > 2 << 20) throw corrupt(value.structure, `index block size ${blockSize} is not a power of two in 512 B..2 MiB`, value.baseOffset + 8);
  const node = parseNode(value, 16);
  return { entries: node.entries, children: node.children, blockSize, large: (node.flags & HEADER_LARGE_INDEX) !== 0 };
}

/** One INDX record read at VCN `vcn`; `offset` is where it lies on the volume. */
export function parseIndexBlock(raw: Buffer, vcn: number, offset: number, directory: number): IndexNode {
  const structure = `NTFS index record (INDX) VCN ${vcn} of directory ${directory}`;
  if (raw.toString('latin1', 0, 4) !== 'INDX') throw corrupt(structure, 'no "INDX" signature', offset);
  const v = new BinaryView(applyFixups(raw, structure, offset), structure, offset);
  const own = v.bytes(16, 8).readBigInt64LE(0);
  if (own !== BigInt(vcn)) throw corrupt(structure, `the record says it is VCN ${own}`, offset + 16);
  const node = parseNode(v, 24);
  return { entries: node.entries, children: node.children };
}
