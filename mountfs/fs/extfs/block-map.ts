/**
 * Where a file's logical blocks lie on disk: the ext4 extent tree (any depth,
 * Documentation/filesystems/ext4/ifork.rst) or the classic ext2/3 block map (12 direct
 * pointers, then single, double and triple indirect blocks). Both answer with runs of
 * contiguous blocks so a read of many blocks becomes few disk reads. The tree is
 * attacker-controlled: magic, entry counts, depth and block numbers are all checked,
 * and an index that leads back to a block already visited is a loop.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, limitExceeded } from '../../errors.js';
import type { Inode } from './inode.js';

const EXTENT_MAGIC = 0xf30a;
const MAX_DEPTH = 5;
/** More extents than any real file has; beyond it the map itself would exhaust memory. */
const MAX_EXTENTS = 4_000_000;
const UNINIT_LEN = 32768;

export interface BlockRun {
  logical: number;
  /** null for a hole or an uninitialised extent: reads as zeros. */
  physical: number | null;
  length: number;
}

export interface BlockReader {
  blockSize: number;
  blocksCount: number;
  readBlock(block: number, structure: string): Promise<Buffer>;
}

export interface BlockMap {
  /** Runs covering [first, first+count), holes included, in logical order. */
  runs(first: number, count: number): Promise<BlockRun[]>;
}

interface Extent {
  logical: number;
  physical: number;
  length: number;
  uninit: boolean;
}

export async function extentMap(inode: Inode, fs: BlockReader): Promise<BlockMap> {
  const extents: Extent[] = [];
  const visited = new Set<number>();
  const walk = async (node: Buffer, where: string, offset: number, expectDepth: number | undefined) => {
    const v = new BinaryView(node, where, offset);
    if (v.u16le(0) !== EXTENT_MAGIC) throw corrupt(where, 'extent header has no magic', offset);
    const entries = v.u16le(2);
    const max = v.u16le(4);
    const depth = v.u16le(6);
    if (entries > max || 12 + max * 12 > node.length) throw corrupt(where, `extent header claims ${entries} of ${max} entries`, offset);
    if (depth > MAX_DEPTH || (expectDepth !== undefined && depth !== expectDepth)) throw corrupt(where, `extent tree depth ${depth} is impossible here`, offset);
    for (let i = 0; i < entries; i++) {
      const e = 12 + i * 12;
      if (depth === 0) {
        const rawLen = v.u16le(e + 4);
        const uninit = rawLen > UNINIT_LEN;
        const length = uninit ? rawLen - UNINIT_LEN : rawLen;
        const physical = v.u16le(e + 6) * 2 ** 32 + v.u32le(e + 8);
        if (length > 0 && physical + length > fs.blocksCount) throw corrupt(where, `extent to blocks ${physical}+${length} is past the filesystem end`, offset + e);
        extents.push({ logical: v.u32le(e), physical, length, uninit });
        if (extents.length > MAX_EXTENTS) throw limitExceeded(where, `more than ${MAX_EXTENTS} extents`, offset);
      } else {
        const child = v.u32le(e + 4) + v.u16le(e + 8) * 2 ** 32;
        if (child >= fs.blocksCount || child === 0) throw corrupt(where, `extent index points at block ${child}, outside the filesystem`, offset + e);
        if (visited.has(child)) throw corrupt(where, `extent tree loops back to block ${child}`, offset + e);
        visited.add(child);
        const buf = await fs.readBlock(child, `extent tree block of inode ${inode.ino}`);
        await walk(buf, `extent tree block ${child} of inode ${inode.ino}`, child * fs.blockSize, depth - 1);
      }
    }
  };
  await walk(inode.block, `extent root of inode ${inode.ino}`, 0, undefined);
  extents.sort((a, b) => a.logical - b.logical);
  for (let i = 1; i < extents.length; i++) {
    const p = extents[i - 1]!;
    if (extents[i]!.logical < p.logical + p.length) throw corrupt(`extents of inode ${inode.ino}`, `extents overlap at logical block ${extents[i]!.logical}`);
  }
  return {
    async runs(first, count) {
      const out: BlockRun[] = [];
      const end = first + count;
      let pos = first;
      // Binary search for the first extent that ends after `first`.
      let lo = 0;
      let hi = extents.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const x = extents[mid]!;
        if (x.logical + x.length <= first) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < extents.length && pos < end; i++) {
        const x = extents[i]!;
        if (x.logical >= end) break;
        if (x.logical > pos) {
          out.push({ logical: pos, physical: null, length: x.logical - pos });
          pos = x.logical;
        }
        const take = Math.min(end, x.logical + x.length) - pos;
        if (take > 0) {
          out.push({ logical: pos, physical: x.uninit ? null : x.physical + (pos - x.logical), length: take });
          pos += take;
        }
      }
      if (pos < end) out.push({ logical: pos, physical: null, length: end - pos });
      return out;
    },
  };
}

/** The ext2/3 block map. Indirect blocks are read as needed through the caller's block cache. */
export function indirectMap(inode: Inode, fs: BlockReader): BlockMap {
  const perBlock = fs.blockSize / 4;
  const direct = new BinaryView(inode.block, `block map of inode ${inode.ino}`);
  const pointer = async (table: number, index: number, level: string): Promise<number> => {
    if (table === 0) return 0;
    if (table >= fs.blocksCount) throw corrupt(`${level} block of inode ${inode.ino}`, `points at block ${table}, outside the filesystem`);
    const buf = await fs.readBlock(table, `${level} block of inode ${inode.ino}`);
    return buf.readUInt32LE(index * 4);
  };
  const physicalOf = async (logical: number): Promise<number> => {
    if (logical < 12) return direct.u32le(logical * 4);
    let n = logical - 12;
    if (n < perBlock) return pointer(direct.u32le(48), n, 'indirect');
    n -= perBlock;
    if (n < perBlock ** 2) return pointer(await pointer(direct.u32le(52), Math.floor(n / perBlock), 'double indirect'), n % perBlock, 'indirect');
    n -= perBlock ** 2;
    if (n < perBlock ** 3) {
      const l1 = await pointer(direct.u32le(56), Math.floor(n / perBlock ** 2), 'triple indirect');
      const l2 = await pointer(l1, Math.floor(n / perBlock) % perBlock, 'double indirect');
      return pointer(l2, n % perBlock, 'indirect');
    }
    throw corrupt(`block map of inode ${inode.ino}`, `logical block ${logical} is beyond what a block map can address`);
  };
  return {
    async runs(first, count) {
      const out: BlockRun[] = [];
      for (let b = first; b < first + count; b++) {
        const p = await physicalOf(b);
        if (p >= fs.blocksCount) throw corrupt(`block map of inode ${inode.ino}`, `block ${p} is outside the filesystem`);
        const phys = p === 0 ? null : p;
        const last = out[out.length - 1];
        if (last && ((last.physical === null && phys === null) || (last.physical !== null && phys === last.physical + last.length))) last.length++;
        else out.push({ logical: b, physical: phys, length: 1 });
      }
      return out;
    },
  };
}
