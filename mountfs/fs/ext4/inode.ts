/**
 * One on-disk inode: type and permissions, owner, size, timestamps, flags and the 60
 * bytes of i_block that hold either the extent tree root, the direct/indirect block
 * map, a fast symlink's target or the first bytes of inline data.
 *
 * Follows Documentation/filesystems/ext4/inodes.rst (struct ext4_inode). Fields past
 * the first 128 bytes (nanosecond timestamps, creation time) exist only when
 * i_extra_isize covers them, so each is read only if 128 + i_extra_isize reaches its
 * end. Owner ids are 32-bit: the high halves live in the Linux osd2 area.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { FileType } from '../types.js';
import { INCOMPAT, RO_COMPAT, type Superblock } from './superblock.js';

const STRUCT = 'ext4 inode';
const BASE_INODE_SIZE = 128;
export const I_BLOCK_OFFSET = 0x28;
export const I_BLOCK_SIZE = 60;

/** i_flags bits the reader acts on. */
export const INODE_FLAGS = {
  IMMUTABLE: 0x10,
  APPEND: 0x20,
  ENCRYPT: 0x800,
  /** EXT4_INDEX_FL: a hash-tree (htree) directory. */
  INDEX: 0x1000,
  HUGE_FILE: 0x40000,
  EXTENTS: 0x80000,
  INLINE_DATA: 0x10000000,
} as const;

export interface Inode {
  ino: number;
  /** Absolute byte offset of the inode in the source. */
  offset: number;
  mode: number;
  type: FileType;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  flags: number;
  atime: number;
  mtime: number;
  ctime: number;
  crtime?: number;
  /** Blocks charged to the inode, in 512-byte units whatever huge_file says. */
  sectors: number;
  /** Extended-attribute block (i_file_acl), 0 when none. */
  fileAcl: number;
  /** The whole inode record (a private copy, so caches hold no image blocks). */
  raw: BinaryView;
  /** The 60 bytes of i_block. */
  iBlock: BinaryView;
  /** Where the in-inode extended attributes start (128 + i_extra_isize); raw.length when there is no room. */
  xattrStart: number;
}

const TYPES: Record<number, FileType> = {
  0x1000: 'fifo',
  0x2000: 'char',
  0x4000: 'directory',
  0x6000: 'block',
  0x8000: 'file',
  0xa000: 'symlink',
  0xc000: 'socket',
};

/** Parses the inode record `bytes` (s_inode_size bytes) found at absolute `offset`. */
export function parseInode(bytes: Buffer, offset: number, ino: number, sb: Superblock): Inode {
  const raw = new BinaryView(Buffer.from(bytes), STRUCT, offset);
  const mode = raw.u16le(0x0);
  const type = TYPES[mode & 0xf000] ?? 'unknown';

  let extraEnd = BASE_INODE_SIZE;
  if (raw.length > BASE_INODE_SIZE) {
    const extra = raw.u16le(0x80);
    if (extra % 4 !== 0 || BASE_INODE_SIZE + extra > raw.length) {
      throw corrupt(STRUCT, `inode ${ino}: i_extra_isize ${extra} does not fit a ${raw.length}-byte inode`, offset + 0x80);
    }
    extraEnd = BASE_INODE_SIZE + extra;
  }
  const has = (field: number, size = 4) => field + size <= extraEnd;

  const sizeHigh = raw.u32le(0x6c);
  const sizeHasHigh = type === 'file' || (sb.incompat & INCOMPAT.LARGEDIR) !== 0;
  if (sizeHasHigh && sizeHigh >= 2 ** 21) {
    throw corrupt(STRUCT, `inode ${ino}: size high word ${sizeHigh} is larger than any supported file`, offset + 0x6c);
  }
  const size = raw.u32le(0x4) + (sizeHasHigh ? sizeHigh * 2 ** 32 : 0);

  const flags = raw.u32le(0x20);
  const hugeFile = (sb.roCompat & RO_COMPAT.HUGE_FILE) !== 0;
  let sectors = raw.u32le(0x1c) + (hugeFile ? raw.u16le(0x74) * 2 ** 32 : 0);
  // With huge_file, an inode flagged HUGE_FILE counts filesystem blocks instead of sectors.
  if (hugeFile && flags & INODE_FLAGS.HUGE_FILE) sectors *= sb.blockSize / 512;

  return {
    ino,
    offset,
    mode,
    type,
    uid: raw.u16le(0x2) + raw.u16le(0x78) * 0x10000,
    gid: raw.u16le(0x18) + raw.u16le(0x7a) * 0x10000,
    size,
    nlink: raw.u16le(0x1a),
    flags,
    atime: decodeTime(raw.i32le(0x8), has(0x8c) ? raw.u32le(0x8c) : undefined),
    ctime: decodeTime(raw.i32le(0xc), has(0x84) ? raw.u32le(0x84) : undefined),
    mtime: decodeTime(raw.i32le(0x10), has(0x88) ? raw.u32le(0x88) : undefined),
    crtime: has(0x90) ? decodeTime(raw.i32le(0x90), has(0x94) ? raw.u32le(0x94) : undefined) : undefined,
    sectors,
    fileAcl: raw.u32le(0x68) + raw.u16le(0x76) * 2 ** 32,
    raw,
    iBlock: raw.slice(I_BLOCK_OFFSET, I_BLOCK_SIZE, 'ext4 inode i_block'),
    xattrStart: extraEnd,
  };
}

/**
 * Seconds since the epoch. The 32-bit field is signed; the *_extra word adds two epoch
 * bits above it (dates past 2038) and the nanoseconds in its upper 30 bits.
 */
function decodeTime(seconds: number, extra: number | undefined): number {
  if (extra === undefined) return seconds;
  return seconds + (extra & 3) * 2 ** 32 + Math.floor(extra / 4) / 1e9;
}
