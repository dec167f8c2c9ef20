/**
 * Extent trees (ext4 "extents" feature): Documentation/filesystems/ext4/ifork.rst.
 *
 * The root node lives in the inode's i_block (room for 4 entries); deeper nodes are
 * whole blocks. Every node starts with a 12-byte header (magic 0xF30A, entries, max,
 * depth); index nodes (depth > 0) hold {first logical block, child block}, leaves hold
 * {first logical block, length, start block}. A leaf length above 32768 marks an
 * unwritten (preallocated) extent, which reads as zeros.
 *
 * Everything is checked before use: magic, entries <= max <= what fits the node,
 * depth <= 5 and exactly one less than the parent's, keys strictly increasing, extents
 * not overlapping, disk ranges inside the filesystem. A child pointing back at a node
 * already on the path is reported as a loop; the depth rule alone would already stop
 * the descent after at most five levels.
 *
 * With metadata_csum each tree block is checked against its ext4_extent_tail before
 * any entry is used (checksums.ts); a mismatch makes the file unreadable, never read
 * through a tree that may be forged.
 *
 * Streaming a file asks for consecutive ranges, so the mapper keeps the last leaf it
 * used together with the logical range that leaf is responsible for; the next lookup
 * inside that range is a binary search in memory, not a walk from the root.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { BlockReader } from './block-cache.js';
import { extentBlockChecksum } from './checksums.js';
import { pushRun, type BlockMapper, type BlockRun } from './block-runs.js';
import type { Inode } from './inode.js';

const MAGIC = 0xf30a;
const HEADER = 12;
const ENTRY = 12;
const MAX_DEPTH = 5;
const UNWRITTEN_BIAS = 32768;
/** Logical block numbers are 32-bit. */
const LOGICAL_LIMIT = 2 ** 32;

interface Node {
  view: BinaryView;
  entries: number;
  depth: number;
}

/** A leaf and the logical range [lo, hi) its parent index assigns to it. */
interface Leaf {
  node: Node | null;
  lo: number;
  hi: number;
}

export class ExtentMapper implements BlockMapper {
  private root?: Node;
  private leaf?: Leaf;

  /** `checksumSeed`: the inode's block checksum seed with metadata_csum, undefined without. */
  constructor(
    private readonly inode: Inode,
    private readonly blocks: BlockReader,
    private readonly checksumSeed?: number,
  ) {}

  async map(first: number, count: number): Promise<BlockRun[]> {
    const runs: BlockRun[] = [];
    const end = first + count;
    let pos = first;
    while (pos < end) {
      if (pos >= LOGICAL_LIMIT) {
        pushRun(runs, pos, end - pos, null);
        break;
      }
      const leaf = this.leaf && pos >= this.leaf.lo && pos < this.leaf.hi ? this.leaf : await this.findLeaf(pos);
      this.leaf = leaf;
      pos = mapInLeaf(leaf, pos, Math.min(end, leaf.hi), runs);
    }
    return runs;
  }

  private rootNode(): Node {
    if (!this.root) {
      const node = readHeader(this.inode.iBlock, undefined, `inode ${this.inode.ino}`);
      checkNode(node, this.blocks);
      this.root = node;
    }
    return this.root;
  }

  /** Walks from the root to the leaf responsible for logical block `pos`. */
  private async findLeaf(pos: number): Promise<Leaf> {
    let node = this.rootNode();
    let lo = 0;
    let hi = LOGICAL_LIMIT;
    const path = new Set<number>();
    while (node.depth > 0) {
      const i = lastKeyAtOrBefore(node, pos);
      if (i < 0) return { node: null, lo, hi: Math.min(hi, key(node, 0)) };
      const childLo = Math.max(lo, key(node, i));
      const childHi = i + 1 < node.entries ? Math.min(hi, key(node, i + 1)) : hi;
      const at = HEADER + i * ENTRY;
      const child = node.view.u32le(at + 4) + node.view.u16le(at + 8) * 2 ** 32;
      const pointerOffset = node.view.baseOffset + at + 4;
      if (path.has(child)) {
        throw corrupt('ext4 extent index', `inode ${this.inode.ino}: index loops back to block ${child}`, pointerOffset);
      }
      path.add(child);
      const view = await this.blocks.block(child, 'ext4 extent tree block', pointerOffset);
      const next = readHeader(view, node.depth - 1, `inode ${this.inode.ino}`);
      if (this.checksumSeed !== undefined) verifyTail(view, this.checksumSeed, this.inode.ino);
      checkNode(next, this.blocks);
      node = next;
      lo = childLo;
      hi = childHi;
    }
    return { node, lo, hi };
  }
}

function readHeader(view: BinaryView, expectedDepth: number | undefined, owner: string): Node {
  const magic = view.u16le(0);
  if (magic !== MAGIC) {
    throw corrupt('ext4 extent header', `${owner}: magic 0x${magic.toString(16)} is not 0xf30a`, view.baseOffset);
  }
  const entries = view.u16le(2);
  const max = view.u16le(4);
  const depth = view.u16le(6);
  const room = Math.floor((view.length - HEADER) / ENTRY);
  if (max > room || entries > max) {
    throw corrupt('ext4 extent header', `${owner}: ${entries} entries of at most ${max} do not fit a node with room for ${room}`, view.baseOffset + 2);
  }
  if (depth > MAX_DEPTH || (expectedDepth !== undefined && depth !== expectedDepth)) {
    const want = expectedDepth === undefined ? `at most ${MAX_DEPTH}` : `${expectedDepth}, one below its parent`;
    throw corrupt('ext4 extent header', `${owner}: depth ${depth} should be ${want}`, view.baseOffset + 6);
  }
  if (depth > 0 && entries === 0) {
    throw corrupt('ext4 extent header', `${owner}: index node at depth ${depth} has no entries`, view.baseOffset + 2);
  }
  return { view, entries, depth };
}

/** The block's ext4_extent_tail must hold the checksum of what precedes it (after readHeader bounded eh_max). */
function verifyTail(view: BinaryView, seed: number, ino: number): void {
  const sum = extentBlockChecksum(seed, view.bytes(0, view.length));
  if (!sum) throw corrupt('ext4 extent tree block', `inode ${ino}: no room for the ext4_extent_tail checksum`, view.baseOffset + 4);
  if (sum.stored !== sum.computed) {
    throw corrupt('ext4 extent tree block', `inode ${ino}: checksum 0x${sum.stored.toString(16)} does not match the 0x${sum.computed.toString(16)} computed over the block (damaged or edited)`, view.baseOffset + sum.at);
  }
}

const key = (node: Node, i: number): number => node.view.u32le(HEADER + i * ENTRY);

/** Keys strictly increasing; leaves: non-empty, non-overlapping extents inside the filesystem. */
function checkNode(node: Node, blocks: BlockReader): void {
  let previousEnd = 0;
  for (let i = 0; i < node.entries; i++) {
    const at = HEADER + i * ENTRY;
    const logical = key(node, i);
    const where = node.view.baseOffset + at;
    if (node.depth > 0) {
      if (i > 0 && logical <= key(node, i - 1)) {
        throw corrupt('ext4 extent index', `index keys are not increasing (${key(node, i - 1)} then ${logical})`, where);
      }
      const child = node.view.u32le(at + 4) + node.view.u16le(at + 8) * 2 ** 32;
      if (child === 0) throw corrupt('ext4 extent index', 'child block 0', where + 4);
      blocks.checkRange(child, 1, 'ext4 extent index', where + 4);
      continue;
    }
    const { length, start } = extentAt(node, i);
    if (length === 0) throw corrupt('ext4 extent', 'zero-length extent', where + 4);
    if (logical < previousEnd || logical + length > LOGICAL_LIMIT) {
      throw corrupt('ext4 extent', `extent at logical block ${logical} overlaps the previous one or passes block 2^32`, where);
    }
    if (start === 0) throw corrupt('ext4 extent', 'extent starts at block 0', where + 6);
    blocks.checkRange(start, length, 'ext4 extent', where + 6);
    previousEnd = logical + length;
  }
}

function extentAt(node: Node, i: number): { logical: number; length: number; start: number; unwritten: boolean } {
  const at = HEADER + i * ENTRY;
  const rawLength = node.view.u16le(at + 4);
  const unwritten = rawLength > UNWRITTEN_BIAS;
  return {
    logical: node.view.u32le(at),
    length: unwritten ? rawLength - UNWRITTEN_BIAS : rawLength,
    start: node.view.u16le(at + 6) * 2 ** 32 + node.view.u32le(at + 8),
    unwritten,
  };
}

/** Index of the last entry whose key is <= pos, or -1. */
function lastKeyAtOrBefore(node: Node, pos: number): number {
  let lo = 0;
  let hi = node.entries - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(node, mid) <= pos) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Emits runs for [pos, stop) from one leaf; returns stop. */
function mapInLeaf(leaf: Leaf, pos: number, stop: number, runs: BlockRun[]): number {
  const node = leaf.node;
  if (!node || node.entries === 0) {
    pushRun(runs, pos, stop - pos, null);
    return stop;
  }
  let i = lastKeyAtOrBefore(node, pos);
  while (pos < stop) {
    if (i >= 0) {
      const e = extentAt(node, i);
      const extentEnd = e.logical + e.length;
      if (pos < extentEnd) {
        const until = Math.min(stop, extentEnd);
        pushRun(runs, pos, until - pos, e.unwritten ? null : e.start + (pos - e.logical));
        pos = until;
        continue;
      }
    }
    const nextStart = i + 1 < node.entries ? key(node, i + 1) : stop;
    if (nextStart <= pos) {
      i++;
      continue;
    }
    const until = Math.min(stop, nextStart);
    pushRun(runs, pos, until - pos, null);
    pos = until;
  }
  return stop;
}
