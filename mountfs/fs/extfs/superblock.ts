/**
 * The ext2/3/4 superblock (1024 bytes at byte 1024 of the filesystem), following the
 * kernel's Documentation/filesystems/ext4/super.rst. Only what reading files needs is
 * kept; every size is checked so later arithmetic cannot overflow or run off the disk.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';

export const SUPERBLOCK_OFFSET = 1024;
export const EXT_MAGIC = 0xef53;

const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_FILETYPE = 0x2;
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_MMP = 0x100;
const INCOMPAT_FLEX_BG = 0x200;
const INCOMPAT_EA_INODE = 0x400;
const INCOMPAT_DIRDATA = 0x1000;
const INCOMPAT_CSUM_SEED = 0x2000;
const INCOMPAT_LARGEDIR = 0x4000;
const INCOMPAT_INLINE_DATA = 0x8000;
const INCOMPAT_ENCRYPT = 0x10000;
const INCOMPAT_CASEFOLD = 0x20000;
const RO_COMPAT_HUGE_FILE = 0x8;

/** Incompatible features this reader understands; any other bit means "cannot read safely". */
const KNOWN_INCOMPAT =
  INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_MMP |
  INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE | INCOMPAT_CSUM_SEED | INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA |
  INCOMPAT_ENCRYPT | INCOMPAT_CASEFOLD | INCOMPAT_DIRDATA;

export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  firstDataBlock: number;
  blockSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  inodeSize: number;
  groupCount: number;
  descSize: number;
  state: number;
  firstMetaBg: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  hasJournal: boolean;
  needsRecovery: boolean;
  is64bit: boolean;
  metaBg: boolean;
  extents: boolean;
  hugeFile: boolean;
  inlineData: boolean;
  fileType: boolean;
  encrypt: boolean;
  /** ext2, ext3 or ext4, as blkid would name it. */
  kind: 'ext2' | 'ext3' | 'ext4';
}

export function parseSuperblock(buf: Buffer, sourceSize: number): Superblock {
  const v = new BinaryView(buf, 'ext superblock', SUPERBLOCK_OFFSET);
  if (v.length < 1024 || v.u16le(0x38) !== EXT_MAGIC) throw corrupt('ext superblock', 'no ext2/3/4 magic', SUPERBLOCK_OFFSET + 0x38);
  const logBlock = v.u32le(0x18);
  if (logBlock > 6) throw corrupt('ext superblock', `block size 2^(10+${logBlock}) is not 1 KiB to 64 KiB`, SUPERBLOCK_OFFSET + 0x18);
  const blockSize = 1024 << logBlock;
  const featureCompat = v.u32le(0x5c);
  const featureIncompat = v.u32le(0x60);
  const featureRoCompat = v.u32le(0x64);
  const is64bit = (featureIncompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = v.u32le(0x04) + (is64bit ? v.u32le(0x150) * 2 ** 32 : 0);
  const inodesCount = v.u32le(0x00);
  const blocksPerGroup = v.u32le(0x20);
  const inodesPerGroup = v.u32le(0x28);
  const firstDataBlock = v.u32le(0x14);
  const revLevel = v.u32le(0x4c);
  const inodeSize = revLevel === 0 ? 128 : v.u16le(0x58);
  const descSize = is64bit ? v.u16le(0xfe) : 32;
  const at = (o: number) => SUPERBLOCK_OFFSET + o;

  if (featureIncompat & INCOMPAT_JOURNAL_DEV) throw unsupported('ext superblock', 'this is an external journal device, not a filesystem', at(0x60));
  const unknown = featureIncompat & ~KNOWN_INCOMPAT;
  if (unknown) throw unsupported('ext superblock', `unknown incompatible features 0x${unknown.toString(16)}`, at(0x60));
  if (blocksPerGroup === 0 || blocksPerGroup > blockSize * 8) throw corrupt('ext superblock', `blocks per group ${blocksPerGroup} is impossible`, at(0x20));
  if (inodesPerGroup === 0 || inodesPerGroup > blockSize * 8) throw corrupt('ext superblock', `inodes per group ${inodesPerGroup} is impossible`, at(0x28));
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) throw corrupt('ext superblock', `inode size ${inodeSize} is impossible`, at(0x58));
  if (is64bit && (descSize < 32 || descSize > 1024 || (descSize & (descSize - 1)) !== 0)) throw corrupt('ext superblock', `group descriptor size ${descSize} is impossible`, at(0xfe));
  if (blocksCount <= firstDataBlock) throw corrupt('ext superblock', `block count ${blocksCount} is impossible`, at(0x04));
  if (firstDataBlock > 1) throw corrupt('ext superblock', `first data block ${firstDataBlock} is impossible`, at(0x14));
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  if (groupCount * inodesPerGroup < inodesCount || groupCount > 2 ** 32 / 8) throw corrupt('ext superblock', `${groupCount} groups cannot hold ${inodesCount} inodes`, at(0x00));
  // A filesystem may claim more blocks than the partition has (a truncated image): reads past the end fail one by one.
  void sourceSize;

  const hasJournal = (featureCompat & COMPAT_HAS_JOURNAL) !== 0;
  const ext4Only = INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG | INCOMPAT_INLINE_DATA | INCOMPAT_META_BG | INCOMPAT_EA_INODE | INCOMPAT_LARGEDIR | INCOMPAT_CSUM_SEED;
  const ext4Ro = RO_COMPAT_HUGE_FILE | 0x10 /* gdt_csum */ | 0x20 /* dir_nlink */ | 0x40 /* extra_isize */ | 0x400 /* metadata_csum */;
  const kind = featureIncompat & ext4Only || featureRoCompat & ext4Ro ? 'ext4' : hasJournal ? 'ext3' : 'ext2';

  return {
    inodesCount,
    blocksCount,
    firstDataBlock,
    blockSize,
    blocksPerGroup,
    inodesPerGroup,
    inodeSize,
    groupCount,
    descSize,
    state: v.u16le(0x3a),
    firstMetaBg: v.u32le(0x104),
    featureCompat,
    featureIncompat,
    featureRoCompat,
    hasJournal,
    needsRecovery: (featureIncompat & INCOMPAT_RECOVER) !== 0,
    is64bit,
    metaBg: (featureIncompat & INCOMPAT_META_BG) !== 0,
    extents: (featureIncompat & INCOMPAT_EXTENTS) !== 0,
    hugeFile: (featureRoCompat & RO_COMPAT_HUGE_FILE) !== 0,
    inlineData: (featureIncompat & INCOMPAT_INLINE_DATA) !== 0,
    fileType: (featureIncompat & INCOMPAT_FILETYPE) !== 0,
    encrypt: (featureIncompat & INCOMPAT_ENCRYPT) !== 0,
    kind,
  };
}
