/**
 * Where a file's blocks are: the data fork's extent records, either stored in the
 * inode (extents format) or in a B+tree whose root sits in the inode and whose
 * interior and leaf blocks carry the "BMAP" (v4) or "BMA3" (v5, with owner and block
 * number in a longer header) magic (btree format).
 *
 * Follows "XFS Algorithms & Data Structures", chapters "Data Extents" and "B+tree
 * Extent List" (struct xfs_bmbt_rec, xfs_bmdr_block, xfs_btree_block long form). An
 * extent record is 128 bits, big-endian: 1 bit unwritten flag, 54 bits logical
 * offset, 52 bits AG-packed start block, 21 bits length.
 *
 * The tree is attacker-shaped, so a lookup descends only from the root's level down
 * by exactly one per step (bounded depth), never visits a block twice (a pointer or
 * right-sibling link back to a visited block is a loop), requires records to ascend
 * without overlap (so every step makes progress), and stops after a caller-given
 * number of extents. Only the leaves covering the asked range are read.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt, limitExceeded } from '../../errors.js';
import { verifyXfsCrc } from './crc.js';
import { fsbToLinear } from './ag.js';
import { FORMAT, type XfsInode } from './inode.js';
import type { XfsSuperblock } from './superblock.js';

const BMAP_MAGIC = 0x424d4150; // "BMAP", v4
const BMA3_MAGIC = 0x424d4133; // "BMA3", v5
const V4_HEADER = 24;
const V5_HEADER = 72;
const RECORD = 16;
/** Deeper than any real bmap btree (XFS computes at most 9 levels for 2^48 extents). */
const MAX_LEVELS = 12;

export interface Extent {
  /** First logical block of the file. */
  startOff: number;
  /** First block on disk, AG-packed file-system block number. */
  startBlock: number;
  count: number;
  /** Preallocated but never written: reads as zeros. */
  unwritten: boolean;
}

/** What the tree walk needs from the filesystem: the superblock and cached metadata blocks. */
export interface MetaReader {
  readonly sb: XfsSuperblock;
  /** One metadata block by linear block number, through the cache. */
  metaBlock(linear: number, structure: string): Promise<BinaryView>;
}

const MASK_54 = (1n << 54n) - 1n;

export function decodeExtent(v: BinaryView, at: number): Extent {
  const raw = v.bytes(at, RECORD);
  const l0 = raw.readBigUInt64BE(0);
  const l1 = raw.readBigUInt64BE(8);
  const startOff = (l0 >> 9n) & MASK_54;
  const startBlock = ((l0 & 0x1ffn) << 43n) | (l1 >> 21n);
  const count = Number(l1 & 0x1fffffn);
  if (startOff > BigInt(Number.MAX_SAFE_INTEGER) || startBlock > BigInt(Number.MAX_SAFE_INTEGER) || count === 0) {
    throw corrupt(v.structure, `extent record (offset ${startOff}, block ${startBlock}, ${count} blocks) is not valid`, v.baseOffset + at);
  }
  return { startOff: Number(startOff), startBlock: Number(startBlock), count, unwritten: l0 >> 63n === 1n };
}

/**
 * Extents of the inode's data fork that overlap logical blocks [from, to), in order.
 * Fails with a limit error once more than `maxExtents` would be returned.
 */
export async function extentsInRange(r: MetaReader, inode: XfsInode, from: number, to: number, maxExtents: number): Promise<Extent[]> {
  const collector = new Collector(inode, from, to, maxExtents);
  if (inode.format === FORMAT.EXTENTS) {
    for (let i = 0; i < inode.dataExtents && !collector.done; i++) collector.add(decodeExtent(inode.dataFork, i * RECORD), inode.dataFork, i * RECORD);
    return collector.out;
  }
  if (inode.format !== FORMAT.BTREE) throw corrupt(`XFS inode ${inode.ino}`, `data fork format ${inode.format} holds no extents`, inode.offset + 5);
  await walkBtree(r, inode, from, collector);
  return collector.out;
}

/** Keeps the extents overlapping the range and checks that records ascend without overlap. */
class Collector {
  readonly out: Extent[] = [];
  private prevEnd = 0;
  done = false;

  constructor(
    private readonly inode: XfsInode,
    private readonly from: number,
    private readonly to: number,
    private readonly maxExtents: number,
  ) {}

  add(e: Extent, where: BinaryView, at: number): void {
    if (e.startOff < this.prevEnd) {
      throw corrupt(where.structure, `extent at logical block ${e.startOff} overlaps or precedes the one before it (ending at ${this.prevEnd})`, where.baseOffset + at);
    }
    this.prevEnd = e.startOff + e.count;
    if (e.startOff >= this.to) {
      this.done = true;
      return;
    }
    if (this.prevEnd <= this.from) return;
    if (this.out.length >= this.maxExtents) {
      throw limitExceeded(`XFS inode ${this.inode.ino}`, `more than ${this.maxExtents} extents in one read`);
    }
    this.out.push(e);
  }
}

/** Where a node's keys and child pointers start (the pointer array follows room for maxrecs keys). */
interface NodeLayout {
  level: number;
  numRecs: number;
  keys: number;
  ptrs: number;
}

function readPtr(v: BinaryView, at: number): number | null {
  const hi = v.u32be(at);
  const lo = v.u32be(at + 4);
  if (hi === 0xffffffff && lo === 0xffffffff) return null; // NULLFSBLOCK
  const value = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(value)) throw corrupt(v.structure, `block pointer ${value} is not valid`, v.baseOffset + at);
  return value;
}

async function walkBtree(r: MetaReader, inode: XfsInode, from: number, collector: Collector): Promise<void> {
  const sb = r.sb;
  const root = inode.dataFork;
  const rootStruct = `bmap btree root of XFS inode ${inode.ino}`;
  const rootLevel = root.u16be(0);
  const rootRecs = root.u16be(2);
  const rootMax = Math.floor((root.length - 4) / 16);
  if (rootLevel < 1 || rootLevel > MAX_LEVELS) throw corrupt(rootStruct, `level ${rootLevel} is not 1..${MAX_LEVELS}`, root.baseOffset);
  if (rootRecs < 1 || rootRecs > rootMax) throw corrupt(rootStruct, `${rootRecs} records, room for 1..${rootMax}`, root.baseOffset + 2);

  const header = sb.version === 5 ? V5_HEADER : V4_HEADER;
  const magic = sb.version === 5 ? BMA3_MAGIC : BMAP_MAGIC;
  const blockMax = Math.floor((sb.blockSize - header) / 16);
  const visited = new Set<number>();

  const loadBlock = async (fsb: number, level: number, from: string): Promise<BinaryView> => {
    const structure = `bmap btree block of XFS inode ${inode.ino}`;
    const linear = fsbToLinear(sb, fsb, 1, structure);
    if (visited.has(linear)) throw corrupt(structure, `${from} loops back to block ${linear}, already visited`, linear * sb.blockSize);
    visited.add(linear);
    const v = await r.metaBlock(linear, structure);
    if (v.u32be(0) !== magic) throw corrupt(structure, `bad magic 0x${v.u32be(0).toString(16)}`, v.baseOffset);
    if (v.u16be(4) !== level) throw corrupt(structure, `level ${v.u16be(4)} where the tree needs ${level}`, v.baseOffset + 4);
    const numRecs = v.u16be(6);
    if (numRecs < 1 || numRecs > blockMax) throw corrupt(structure, `${numRecs} records, room for 1..${blockMax}`, v.baseOffset + 6);
    if (sb.version === 5) {
      // bb_crc of the long-format v5 block header, at +64.
      verifyXfsCrc(v.bytes(0, v.length), 64, structure, v.baseOffset);
      const owner = readPtr(v, 56);
      if (owner !== inode.ino) throw corrupt(structure, `block belongs to inode ${owner}, not ${inode.ino}`, v.baseOffset + 56);
      const daddr = readPtr(v, 24);
      if (daddr !== (linear * sb.blockSize) / 512) throw corrupt(structure, `block says it lies at sector ${daddr}`, v.baseOffset + 24);
    }
    return v;
  };

  // Descend from the root to the leaf that holds `from`.
  let node: BinaryView = root;
  let layout: NodeLayout = { level: rootLevel, numRecs: rootRecs, keys: 4, ptrs: 4 + rootMax * 8 };
  while (layout.level > 0) {
    let child = 0;
    let prevKey = -1;
    for (let i = 0; i < layout.numRecs; i++) {
      const key = readPtr(node, layout.keys + i * 8);
      if (key === null || key <= prevKey) throw corrupt(node.structure, `keys do not ascend at record ${i}`, node.baseOffset + layout.keys + i * 8);
      prevKey = key;
      if (key <= from) child = i;
    }
    const ptrAt = layout.ptrs + child * 8;
    const ptr = readPtr(node, ptrAt);
    if (ptr === null) throw corrupt(node.structure, `null child pointer ${child}`, node.baseOffset + ptrAt);
    const level = layout.level - 1;
    node = await loadBlock(ptr, level, `child pointer ${child} of a level-${layout.level} block`);
    layout = { level, numRecs: node.u16be(6), keys: header, ptrs: header + blockMax * 8 };
  }

  // Walk leaves rightwards until the range is covered.
  for (;;) {
    const numRecs = node.u16be(6);
    for (let i = 0; i < numRecs && !collector.done; i++) collector.add(decodeExtent(node, header + i * RECORD), node, header + i * RECORD);
    if (collector.done) return;
    const right = readPtr(node, 16);
    if (right === null) return;
    node = await loadBlock(right, 0, 'a right-sibling link');
  }
}
