/**
 * XFS addresses are not linear. An inode number packs (AG number, block in the AG,
 * inode in the block) into bit fields whose widths come from the superblock
 * (sb_agblklog, sb_inopblog), and a file-system block number in an extent record packs
 * (AG number, block in the AG) the same way. Because sb_agblklog is rounded up to a
 * power of two, the fields leave gaps: AG n starts at linear block n * sb_agblocks,
 * not at n << sb_agblklog. This file is the one place that does that arithmetic, and
 * it refuses every number whose fields point outside the filesystem.
 *
 * Follows "XFS Algorithms & Data Structures", chapters "Allocation Groups" and
 * "Inode Numbers" (XFS_INO_TO_AGNO / XFS_FSB_TO_AGNO and friends in xfsprogs).
 * Inode and block numbers can pass 2^32, so all math uses exact float arithmetic on
 * integers below 2^53 (never 32-bit bit operators).
 */
import { corrupt } from '../../errors.js';

export interface AgGeometry {
  blockSize: number;
  /** sb_agblocks: blocks in every AG but maybe the last. */
  agBlocks: number;
  /** sb_agblklog: bits of an AG-relative block number. */
  agBlkLog: number;
  agCount: number;
  /** sb_dblocks: blocks in the data device (the last AG may be short). */
  dataBlocks: number;
  inodeSize: number;
  /** sb_inopblog: bits of the inode index inside a block. */
  inoPerBlockLog: number;
}

export interface InodeLocation {
  agno: number;
  agbno: number;
  /** Index of the inode inside its block. */
  index: number;
  /** Linear file-system block that holds the inode. */
  block: number;
  /** Byte offset of the inode inside that block. */
  offsetInBlock: number;
}

/** Splits an inode number; throws when it names an AG, block or inode that does not exist. */
export function inodeLocation(geo: AgGeometry, ino: number, structure: string, offset?: number): InodeLocation {
  if (!Number.isSafeInteger(ino) || ino <= 0) throw corrupt(structure, `inode number ${ino} is not valid`, offset);
  const inoPerBlock = 2 ** geo.inoPerBlockLog;
  const agInoSpan = 2 ** (geo.agBlkLog + geo.inoPerBlockLog);
  const agno = Math.floor(ino / agInoSpan);
  const agino = ino - agno * agInoSpan;
  const agbno = Math.floor(agino / inoPerBlock);
  const index = agino - agbno * inoPerBlock;
  if (agno >= geo.agCount) {
    throw corrupt(structure, `inode number ${ino} lies in AG ${agno}, past the filesystem's ${geo.agCount} AGs`, offset);
  }
  const block = agno * geo.agBlocks + agbno;
  if (agbno >= geo.agBlocks || block >= geo.dataBlocks) {
    throw corrupt(structure, `inode number ${ino} names block ${agbno} of AG ${agno}, past the end of the AG`, offset);
  }
  return { agno, agbno, index, block, offsetInBlock: index * geo.inodeSize };
}

/**
 * The linear block of a file-system block number (sb-relative, AG-packed), checking
 * that `count` blocks from there stay inside one AG and the data device: XFS never
 * lets an extent cross an AG boundary, so one that does is damage.
 */
export function fsbToLinear(geo: AgGeometry, fsb: number, count: number, structure: string, offset?: number): number {
  if (!Number.isSafeInteger(fsb) || fsb < 0 || !Number.isSafeInteger(count) || count < 1) {
    throw corrupt(structure, `block ${fsb} (+${count}) is not a valid block address`, offset);
  }
  const agSpan = 2 ** geo.agBlkLog;
  const agno = Math.floor(fsb / agSpan);
  const agbno = fsb - agno * agSpan;
  if (agno >= geo.agCount || agbno + count > geo.agBlocks) {
    throw corrupt(structure, `blocks ${agno}/${agbno}+${count} lie outside the filesystem's ${geo.agCount} AGs of ${geo.agBlocks} blocks`, offset);
  }
  const linear = agno * geo.agBlocks + agbno;
  if (linear + count > geo.dataBlocks) {
    throw corrupt(structure, `blocks ${linear}+${count} run past the filesystem's ${geo.dataBlocks} blocks`, offset);
  }
  return linear;
}
