/**
 * Indirect block maps, the ext2/ext3 way of finding a file's blocks (and ext4's for
 * inodes without the extents flag): Documentation/filesystems/ext4/ifork.rst,
 * "Direct/Indirect Block Addressing".
 *
 * i_block holds 15 32-bit block numbers: 12 direct blocks, then the roots of a single,
 * a double and a triple indirect tree, each indirect block holding block_size / 4
 * pointers. A zero pointer is a hole at any level. A range is mapped by descending only
 * into the subtrees it overlaps, reading each indirect block once per call (through the
 * metadata cache), so mapping a 256 KiB read costs a handful of cached lookups, not one
 * per block. The tree is at most three levels deep, so even pointers that point back at
 * their own block cannot make the walk loop.
 */
import type { BinaryView } from '../../binary.js';
import type { BlockReader } from './block-cache.js';
import { pushRun, type BlockMapper, type BlockRun } from './block-runs.js';
import type { Inode } from './inode.js';

const DIRECT = 12;

export class IndirectMapper implements BlockMapper {
  private readonly perBlock: number;

  constructor(
    private readonly inode: Inode,
    private readonly blocks: BlockReader,
  ) {
    this.perBlock = blocks.blockSize / 4;
  }

  async map(first: number, count: number): Promise<BlockRun[]> {
    const runs: BlockRun[] = [];
    const end = first + count;
    const iBlock = this.inode.iBlock;
    for (let b = first; b < Math.min(end, DIRECT); b++) {
      this.pushPointer(runs, b, iBlock, b * 4);
    }
    let base = DIRECT;
    for (let level = 1; level <= 3 && base < end; level++) {
      const span = this.perBlock ** level;
      if (first < base + span) {
        const slot = (DIRECT + level - 1) * 4;
        await this.walk(iBlock.u32le(slot), level, base, Math.max(first, base), Math.min(end, base + span), runs, iBlock.baseOffset + slot);
      }
      base += span;
    }
    // Past what a triple indirect tree can address: nothing is stored there.
    if (end > base) pushRun(runs, Math.max(first, base), end - Math.max(first, base), null);
    return runs;
  }

  /** Maps [lo, hi) inside the subtree at `pointer`, which covers logical blocks from `base`. */
  private async walk(pointer: number, level: number, base: number, lo: number, hi: number, runs: BlockRun[], pointerOffset: number): Promise<void> {
    if (pointer === 0) {
      pushRun(runs, lo, hi - lo, null);
      return;
    }
    const table = await this.blocks.block(pointer, 'ext4 indirect block', pointerOffset);
    const childSpan = this.perBlock ** (level - 1);
    const firstChild = Math.floor((lo - base) / childSpan);
    const lastChild = Math.floor((hi - 1 - base) / childSpan);
    for (let i = firstChild; i <= lastChild; i++) {
      const childBase = base + i * childSpan;
      if (level === 1) {
        this.pushPointer(runs, childBase, table, i * 4);
        continue;
      }
      const childLo = Math.max(lo, childBase);
      const childHi = Math.min(hi, childBase + childSpan);
      await this.walk(table.u32le(i * 4), level - 1, childBase, childLo, childHi, runs, table.baseOffset + i * 4);
    }
  }

  /** One data block pointer: checked against the filesystem size, zero is a hole. */
  private pushPointer(runs: BlockRun[], logical: number, table: BinaryView, at: number): void {
    const block = table.u32le(at);
    if (block !== 0) this.blocks.checkRange(block, 1, 'ext4 block map', table.baseOffset + at);
    pushRun(runs, logical, 1, block === 0 ? null : block);
  }
}
