/**
 * The ext2/3/4 superblock: 1024 bytes at byte 1024 of the filesystem, holding the
 * geometry every other structure is located from (block size, blocks and inodes per
 * group, descriptor size) and the feature bits that say how to read the rest.
 *
 * Layout follows the kernel's Documentation/filesystems/ext4/super.rst (struct
 * ext4_super_block). The image is untrusted, so every field used later as a size, a
 * count or a multiplier is range-checked here once, and the derived geometry (group
 * count, descriptors per block) is computed from checked values only.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';
import { checksumSeed } from './checksums.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
const EXT_MAGIC = 0xef53;
const STRUCT = 'ext4 superblock';

export const COMPAT = {
  HAS_JOURNAL: 0x4,
  /** Directories may be hash trees (EXT4_INDEX_FL). */
  DIR_INDEX: 0x20,
  SPARSE_SUPER2: 0x200,
} as const;

export const INCOMPAT = {
  COMPRESSION: 0x1,
  FILETYPE: 0x2,
  RECOVER: 0x4,
  JOURNAL_DEV: 0x8,
  META_BG: 0x10,
  EXTENTS: 0x40,
  BIT64: 0x80,
  MMP: 0x100,
  FLEX_BG: 0x200,
  EA_INODE: 0x400,
  DIRDATA: 0x1000,
  CSUM_SEED: 0x2000,
  LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000,
  ENCRYPT: 0x10000,
  CASEFOLD: 0x20000,
} as const;

export const RO_COMPAT = {
  SPARSE_SUPER: 0x1,
  LARGE_FILE: 0x2,
  BTREE_DIR: 0x4,
  HUGE_FILE: 0x8,
  GDT_CSUM: 0x10,
  BIGALLOC: 0x200,
  METADATA_CSUM: 0x400,
} as const;

/**
 * Incompatible features this reader understands. Encryption and casefolding are
 * per-directory: the filesystem is readable, only encrypted inodes are refused (casefold
 * changes hashing, which a linear directory read never uses). Compression (never merged
 * into Linux) and Lustre's dirdata change on-disk records this reader does not parse.
 */
const READABLE_INCOMPAT =
  INCOMPAT.FILETYPE | INCOMPAT.RECOVER | INCOMPAT.META_BG | INCOMPAT.EXTENTS | INCOMPAT.BIT64 |
  INCOMPAT.MMP | INCOMPAT.FLEX_BG | INCOMPAT.EA_INODE | INCOMPAT.CSUM_SEED | INCOMPAT.LARGEDIR |
  INCOMPAT.INLINE_DATA | INCOMPAT.ENCRYPT | INCOMPAT.CASEFOLD;

/** Features an ext3 driver already had; anything beyond them makes the filesystem ext4. */
const EXT3_INCOMPAT = INCOMPAT.FILETYPE | INCOMPAT.RECOVER | INCOMPAT.META_BG;
const EXT3_RO_COMPAT = RO_COMPAT.SPARSE_SUPER | RO_COMPAT.LARGE_FILE | RO_COMPAT.BTREE_DIR;

/** s_state bits. */
export const STATE = { VALID: 0x1, ERROR: 0x2 } as const;

export type ExtKind = 'ext2' | 'ext3' | 'ext4';

export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  firstDataBlock: number;
  blockSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  /** Bytes of one inode-table slot (128 on revision 0). */
  inodeSize: number;
  state: number;
  compat: number;
  incompat: number;
  roCompat: number;
  /** Bytes of one group descriptor: 32, or s_desc_size with the 64bit feature. */
  descSize: number;
  firstMetaBg: number;
  /** The two groups holding backups with sparse_super2. */
  backupGroups: [number, number];
  groupCount: number;
  /** Bytes per cluster (bigalloc), the unit of i_file_acl's block charge. */
  clusterSize: number;
  kind: ExtKind;
  /** s_uuid, which the checksums of descriptors and inodes start from. */
  uuid: Buffer;
  /** metadata_csum: the superblock, descriptors and inodes carry CRC-32C checksums. */
  metadataCsum: boolean;
  /** The metadata_csum seed: s_checksum_seed with csum_seed, else the CRC-32C of the UUID. */
  checksumSeed: number;
  /** s_creator_os: the inode checksum lives in the Linux osd2 layout only (0). */
  creatorOs: number;
  /** s_block_group_nr: the group a backup copy sits in (0 in the primary). */
  blockGroupNr: number;
}

/** Parses and checks the 1024 bytes at SUPERBLOCK_OFFSET. */
export function parseSuperblock(v: BinaryView): Superblock {
  const at = (field: number) => v.baseOffset + field;
  const magic = v.u16le(0x38);
  if (magic !== EXT_MAGIC) {
    throw corrupt(STRUCT, `magic is 0x${magic.toString(16)}, not 0xef53: not an ext2/3/4 filesystem`, at(0x38));
  }
  const revLevel = v.u32le(0x4c);
  const compat = revLevel === 0 ? 0 : v.u32le(0x5c);
  const incompat = revLevel === 0 ? 0 : v.u32le(0x60);
  const roCompat = revLevel === 0 ? 0 : v.u32le(0x64);
  checkReadable(incompat, at(0x60));

  const logBlockSize = v.u32le(0x18);
  if (logBlockSize > 6) throw corrupt(STRUCT, `s_log_block_size ${logBlockSize} gives a block size over 64 KiB`, at(0x18));
  const blockSize = 1024 << logBlockSize;

  const bit64 = (incompat & INCOMPAT.BIT64) !== 0;
  const blocksCount = v.u32le(0x4) + (bit64 ? v.u32le(0x150) * 2 ** 32 : 0);
  const firstDataBlock = v.u32le(0x14);
  if (blocksCount === 0 || firstDataBlock >= blocksCount) {
    throw corrupt(STRUCT, `s_first_data_block ${firstDataBlock} is not below s_blocks_count ${blocksCount}`, at(0x14));
  }
  if (!Number.isSafeInteger(blocksCount * blockSize)) {
    throw corrupt(STRUCT, `${blocksCount} blocks of ${blockSize} bytes is larger than any supported disk`, at(0x4));
  }

  const bigalloc = (roCompat & RO_COMPAT.BIGALLOC) !== 0;
  const logClusterSize = v.u32le(0x1c);
  const clusterSize = bigalloc ? 1024 * 2 ** logClusterSize : blockSize;
  if (bigalloc && (logClusterSize < logBlockSize || logClusterSize > 29)) {
    throw corrupt(STRUCT, `s_log_cluster_size ${logClusterSize} does not fit block size ${blockSize}`, at(0x1c));
  }
  const blocksPerGroup = v.u32le(0x20);
  const clustersPerGroup = bigalloc ? v.u32le(0x24) : blocksPerGroup;
  const maxPerGroup = blockSize * 8; // one bitmap block per group
  if (blocksPerGroup === 0 || clustersPerGroup === 0 || clustersPerGroup > maxPerGroup ||
      blocksPerGroup !== clustersPerGroup * (clusterSize / blockSize)) {
    throw corrupt(STRUCT, `s_blocks_per_group ${blocksPerGroup} is impossible for ${blockSize}-byte blocks`, at(0x20));
  }
  const inodesPerGroup = v.u32le(0x28);
  if (inodesPerGroup === 0 || inodesPerGroup > maxPerGroup) {
    throw corrupt(STRUCT, `s_inodes_per_group ${inodesPerGroup} is impossible for ${blockSize}-byte blocks`, at(0x28));
  }

  const inodeSize = revLevel === 0 ? 128 : v.u16le(0x58);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
    throw corrupt(STRUCT, `s_inode_size ${inodeSize} is not a power of two between 128 and the block size`, at(0x58));
  }

  let descSize = 32;
  if (bit64) {
    descSize = v.u16le(0xfe);
    if (descSize < 64 || descSize > 1024 || (descSize & (descSize - 1)) !== 0) {
      throw corrupt(STRUCT, `s_desc_size ${descSize} is not a power of two between 64 and 1024`, at(0xfe));
    }
  }

  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const inodesCount = v.u32le(0x0);
  if (inodesCount < 2) {
    throw corrupt(STRUCT, `s_inodes_count ${inodesCount} leaves no root directory`, at(0x0));
  }
  if (inodesCount > groupCount * inodesPerGroup) {
    throw corrupt(STRUCT, `s_inodes_count ${inodesCount} is more than ${groupCount} groups of ${inodesPerGroup} inodes`, at(0x0));
  }

  const descBlocks = Math.ceil(groupCount / (blockSize / descSize));
  const firstMetaBg = v.u32le(0x104);
  if ((incompat & INCOMPAT.META_BG) !== 0 && firstMetaBg > descBlocks) {
    throw corrupt(STRUCT, `s_first_meta_bg ${firstMetaBg} is past the ${descBlocks} descriptor blocks`, at(0x104));
  }

  const metadataCsum = (roCompat & RO_COMPAT.METADATA_CSUM) !== 0;
  if (metadataCsum && v.u8(0x175) !== 1) {
    throw unsupported(STRUCT, `s_checksum_type ${v.u8(0x175)} is not crc32c (1), the only checksum ext4 defines`, at(0x175));
  }
  const uuid = Buffer.from(v.bytes(0x68, 16));

  return {
    inodesCount,
    blocksCount,
    firstDataBlock,
    blockSize,
    blocksPerGroup,
    inodesPerGroup,
    inodeSize,
    state: v.u16le(0x3a),
    compat,
    incompat,
    roCompat,
    descSize,
    firstMetaBg,
    backupGroups: [v.u32le(0x24c), v.u32le(0x250)],
    groupCount,
    clusterSize,
    kind: kindOf(compat, incompat, roCompat),
    uuid,
    metadataCsum,
    checksumSeed: checksumSeed(uuid, incompat & INCOMPAT.CSUM_SEED ? v.u32le(0x270) : undefined),
    creatorOs: v.u32le(0x48),
    blockGroupNr: v.u16le(0x5a),
  };
}

function checkReadable(incompat: number, offset: number): void {
  if (incompat & INCOMPAT.JOURNAL_DEV) {
    throw unsupported(STRUCT, 'this is an external ext3/ext4 journal device, not a filesystem', offset);
  }
  const unknown = incompat & ~READABLE_INCOMPAT;
  if (unknown) {
    throw unsupported(STRUCT, `incompatible features 0x${unknown.toString(16)} (compression, dirdata or unknown) are not readable`, offset);
  }
}

/** ext4 once anything beyond ext3's features is on; ext3 when it has a journal; else ext2. */
function kindOf(compat: number, incompat: number, roCompat: number): ExtKind {
  if ((incompat & ~EXT3_INCOMPAT) !== 0 || (roCompat & ~EXT3_RO_COMPAT) !== 0) return 'ext4';
  return compat & COMPAT.HAS_JOURNAL ? 'ext3' : 'ext2';
}

/** Whether group `g` carries a superblock and descriptor backup (ext4 "sparse_super"). */
export function groupHasSuperblock(sb: Superblock, g: number): boolean {
  if (g === 0) return true;
  if (sb.compat & COMPAT.SPARSE_SUPER2) return g === sb.backupGroups[0] || g === sb.backupGroups[1];
  if (!(sb.roCompat & RO_COMPAT.SPARSE_SUPER)) return true;
  if (g <= 1) return true;
  if (g % 2 === 0) return false;
  return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7);
}

function isPowerOf(n: number, base: number): boolean {
  let p = base;
  while (p < n) p *= base;
  return p === n;
}

export const hasIncompat = (sb: Superblock, bit: number): boolean => (sb.incompat & bit) !== 0;
export const hasRoCompat = (sb: Superblock, bit: number): boolean => (sb.roCompat & bit) !== 0;
