/**
 * The XFS superblock: the first sector of AG 0, big-endian, holding the geometry that
 * locates everything else (block, inode and directory block sizes, AG size and count,
 * the root inode) and the feature bits that decide between the v4 and v5 (CRC) on-disk
 * formats.
 *
 * Layout follows struct xfs_dsb in xfsprogs' libxfs/xfs_format.h and the "Superblocks"
 * chapter of "XFS Algorithms & Data Structures". The image is untrusted: every field
 * later used as a size, a count, a shift or a multiplier is checked here once against
 * the others it must agree with (block size vs. sb_blocklog, inodes per block vs.
 * sb_inopblog, sb_agblklog vs. sb_agblocks, sb_dblocks vs. the AG count), so nothing
 * downstream works from a lie the superblock tells about itself.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';
import { inodeLocation, type AgGeometry } from './ag.js';

const STRUCT = 'XFS superblock';
export const SUPERBLOCK_BYTES = 512;
const XFS_SB_MAGIC = 0x58465342; // "XFSB"

/** sb_versionnum bits (v4 feature flags live there). */
const VERSION_NUMBITS = 0x000f;
const VERSION_DIRV2BIT = 0x2000;
const VERSION_MOREBITSBIT = 0x8000;
/** sb_features2 bits. */
const VERSION2_FTYPE = 0x200;

/** sb_features_incompat bits of v5 filesystems. */
export const INCOMPAT = {
  FTYPE: 0x1,
  SPINODES: 0x2,
  META_UUID: 0x4,
  BIGTIME: 0x8,
  NEEDSREPAIR: 0x10,
  NREXT64: 0x20,
  EXCHRANGE: 0x40,
  PARENT: 0x80,
  METADIR: 0x100,
} as const;

/**
 * Incompatible features that do not change how files, directories and extents are
 * laid out for a reader: sparse inode chunks only change allocation, exchange-range
 * and parent pointers only add log items and attributes, the metadata directory only
 * hides internal inodes. Anything else is refused as unsupported.
 */
const READABLE_INCOMPAT = Object.values(INCOMPAT).reduce((a, b) => a | b, 0);

export interface XfsSuperblock extends AgGeometry {
  /** 4 or 5 (v5 = CRC-enabled metadata, self-describing block headers). */
  version: 4 | 5;
  blockLog: number;
  sectorSize: number;
  inodeSize: number;
  /** Bytes in one directory block (sb_blocksize << sb_dirblklog). */
  dirBlockSize: number;
  rootIno: number;
  /** The internal log's first block (AG-packed fsb) and length; logStart 0 = external log. */
  logStart: number;
  logBlocks: number;
  /** Blocks on a realtime device (files flagged realtime live there, not here). */
  rtBlocks: number;
  /** Directory entries carry a file type byte. */
  hasFtype: boolean;
  /** sb_features_incompat (v5 only; 0 on v4). */
  incompat: number;
  /** sb_features_log_incompat: set while the log may hold items needing those features. */
  logIncompat: number;
  /** sb_inprogress: mkfs did not finish. */
  inProgress: boolean;
}

export function parseSuperblock(buf: Buffer): XfsSuperblock {
  const v = new BinaryView(buf, STRUCT, 0);
  if (v.length < 264 || v.u32be(0) !== XFS_SB_MAGIC) throw corrupt(STRUCT, 'no XFS superblock magic "XFSB"', 0);
  const versionNum = v.u16be(100);
  const versionBits = versionNum & VERSION_NUMBITS;
  if (versionBits !== 4 && versionBits !== 5) {
    if (versionBits >= 1 && versionBits <= 3) throw unsupported(STRUCT, `XFS version ${versionBits} (pre-2003) filesystems are not read`, 100);
    throw corrupt(STRUCT, `unknown version number ${versionBits}`, 100);
  }
  const version = versionBits as 4 | 5;

  const blockSize = v.u32be(4);
  const blockLog = v.u8(120);
  if (blockLog < 9 || blockLog > 16 || blockSize !== 2 ** blockLog) {
    throw corrupt(STRUCT, `block size ${blockSize} (log ${blockLog}) is not a power of two in 512..65536`, 4);
  }
  const sectorSize = v.u16be(102);
  const sectorLog = v.u8(121);
  if (sectorLog < 9 || sectorLog > 15 || sectorSize !== 2 ** sectorLog || sectorSize > blockSize) {
    throw corrupt(STRUCT, `sector size ${sectorSize} (log ${sectorLog}) is not valid`, 102);
  }
  const inodeSize = v.u16be(104);
  const inodeLog = v.u8(122);
  if (inodeLog < 8 || inodeLog > 11 || inodeSize !== 2 ** inodeLog || inodeSize > blockSize) {
    throw corrupt(STRUCT, `inode size ${inodeSize} (log ${inodeLog}) is not a power of two in 256..2048 within a block`, 104);
  }
  const inoPerBlock = v.u16be(106);
  const inoPerBlockLog = v.u8(123);
  if (inoPerBlockLog !== blockLog - inodeLog || inoPerBlock !== 2 ** inoPerBlockLog) {
    throw corrupt(STRUCT, `${inoPerBlock} inodes per block (log ${inoPerBlockLog}) disagrees with the block and inode sizes`, 106);
  }

  const agBlocks = v.u32be(84);
  const agCount = v.u32be(88);
  const agBlkLog = v.u8(124);
  if (agBlocks < 1 || agBlkLog > 31 || agBlocks > 2 ** agBlkLog || (agBlkLog > 0 && agBlocks <= 2 ** (agBlkLog - 1))) {
    throw corrupt(STRUCT, `AG size ${agBlocks} blocks disagrees with its bit width ${agBlkLog}`, 84);
  }
  if (agCount < 1) throw corrupt(STRUCT, 'the filesystem has no allocation groups', 88);
  const dataBlocks = v.u64be(8);
  if (dataBlocks < 1 || dataBlocks > agCount * agBlocks || dataBlocks <= (agCount - 1) * agBlocks) {
    throw corrupt(STRUCT, `${dataBlocks} data blocks do not fit ${agCount} AGs of ${agBlocks} blocks`, 8);
  }
  if (agBlkLog + inoPerBlockLog + Math.ceil(Math.log2(agCount + 1)) > 53) {
    throw unsupported(STRUCT, 'inode numbers of this geometry do not fit in 53 bits', 124);
  }

  const dirBlkLog = v.u8(192);
  if (blockLog + dirBlkLog > 16) throw corrupt(STRUCT, `directory block size 2^${blockLog + dirBlkLog} is larger than 64 KiB`, 192);

  let hasFtype: boolean;
  let incompat = 0;
  let logIncompat = 0;
  if (version === 5) {
    incompat = v.u32be(216);
    logIncompat = v.u32be(220);
    const unknown = incompat & ~READABLE_INCOMPAT;
    if (unknown) throw unsupported(STRUCT, `unknown incompatible feature bits 0x${unknown.toString(16)}`, 216);
    hasFtype = (incompat & INCOMPAT.FTYPE) !== 0;
  } else {
    if (!(versionNum & VERSION_DIRV2BIT)) throw unsupported(STRUCT, 'version 1 directories (pre-2003 XFS) are not read', 100);
    const features2 = versionNum & VERSION_MOREBITSBIT ? v.u32be(200) : 0;
    hasFtype = (features2 & VERSION2_FTYPE) !== 0;
  }

  const sb: XfsSuperblock = {
    version,
    blockSize,
    blockLog,
    sectorSize,
    inodeSize,
    inoPerBlockLog,
    agBlocks,
    agBlkLog,
    agCount,
    dataBlocks,
    dirBlockSize: blockSize * 2 ** dirBlkLog,
    rootIno: v.u64be(56),
    logStart: v.u64be(48),
    logBlocks: v.u32be(96),
    rtBlocks: v.u64be(16),
    hasFtype,
    incompat,
    logIncompat,
    inProgress: v.u8(126) !== 0,
  };
  inodeLocation(sb, sb.rootIno, STRUCT, 56);
  return sb;
}
