/**
 * One XFS on-disk inode (struct xfs_dinode): the core (type, owner, size, times,
 * flags, fork formats and extent counts) and the data fork that follows it in the
 * literal area, which holds a short directory, a short symlink target, extent records
 * or the root of the extent B+tree.
 *
 * Layout follows libxfs/xfs_format.h and the "On-disk Inode" chapter of "XFS
 * Algorithms & Data Structures": v1/v2 cores are 100 bytes, v3 cores (v5
 * filesystems) 176 bytes with a creation time and the inode's own number. Two later
 * per-inode features change field meanings: bigtime (di_flags2 bit 3) stores each
 * timestamp as 64-bit nanoseconds since 1901-12-13, and nrext64 (di_flags2 bit 4)
 * moves the data fork's extent count to a 64-bit field in the old padding. Every count
 * and the fork offset are checked against the inode size before use.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { FileType, Stat } from '../types.js';
import type { XfsSuperblock } from './superblock.js';

const XFS_DINODE_MAGIC = 0x494e; // "IN"
const V2_CORE_BYTES = 100;
const V3_CORE_BYTES = 176;

/** di_format values. */
export const FORMAT = { DEV: 0, LOCAL: 1, EXTENTS: 2, BTREE: 3 } as const;

/** di_flags bits (XFS_DIFLAG_*). */
export const DIFLAG = { REALTIME: 0x1, IMMUTABLE: 0x8, APPEND: 0x10 } as const;
/** di_flags2 bits (XFS_DIFLAG2_*). */
export const DIFLAG2 = { BIGTIME: 0x8, NREXT64: 0x10 } as const;

/** Seconds between 1901-12-13T20:45:52Z (bigtime's zero) and the Unix epoch: -INT32_MIN. */
const BIGTIME_EPOCH_OFFSET = 2 ** 31;

export interface XfsInode {
  ino: number;
  /** Absolute byte offset of the inode in the source. */
  offset: number;
  version: number;
  mode: number;
  type: FileType;
  format: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  crtime?: number;
  flags: number;
  flags2: number;
  /** Extent records in the data fork (di_nextents or di_big_nextents). */
  dataExtents: number;
  /** The data fork's bytes in the literal area. */
  dataFork: BinaryView;
}

function typeOf(mode: number): FileType | null {
  switch (mode & 0xf000) {
    case 0x8000: return 'file';
    case 0x4000: return 'directory';
    case 0xa000: return 'symlink';
    case 0x2000: return 'char';
    case 0x6000: return 'block';
    case 0x1000: return 'fifo';
    case 0xc000: return 'socket';
    default: return null;
  }
}

/** Which data fork formats a file type may use; anything else is damage. */
function formatAllowed(type: FileType, format: number): boolean {
  switch (type) {
    case 'file': return format === FORMAT.EXTENTS || format === FORMAT.BTREE;
    case 'directory':
    case 'symlink': return format === FORMAT.LOCAL || format === FORMAT.EXTENTS || format === FORMAT.BTREE;
    default: return format === FORMAT.DEV;
  }
}

/** Parses `buf` (exactly one inode, sb.inodeSize bytes) read from absolute byte `offset`. */
export function parseInode(buf: Buffer, ino: number, offset: number, sb: XfsSuperblock): XfsInode {
  const structure = `XFS inode ${ino}`;
  const v = new BinaryView(buf, structure, offset);
  if (v.u16be(0) !== XFS_DINODE_MAGIC) throw corrupt(structure, 'no inode magic "IN"', offset);
  const version = v.u8(4);
  if (sb.version === 5 ? version !== 3 : version !== 1 && version !== 2) {
    throw corrupt(structure, `inode version ${version} on a v${sb.version} filesystem`, offset + 4);
  }
  const mode = v.u16be(2);
  if (mode === 0) throw corrupt(structure, 'the inode is free (mode 0) but a directory names it', offset + 2);
  const type = typeOf(mode);
  if (!type) throw corrupt(structure, `unknown file type in mode 0${mode.toString(8)}`, offset + 2);
  const format = v.u8(5);
  if (!formatAllowed(type, format)) throw corrupt(structure, `data fork format ${format} is not valid for a ${type}`, offset + 5);

  const coreBytes = version === 3 ? V3_CORE_BYTES : V2_CORE_BYTES;
  const literal = sb.inodeSize - coreBytes;
  const forkOff = v.u8(82) * 8;
  if (forkOff >= literal) throw corrupt(structure, `attribute fork offset ${forkOff} is past the ${literal}-byte literal area`, offset + 82);
  const dataForkBytes = forkOff === 0 ? literal : forkOff;

  const flags2 = version === 3 ? v.u32be(124) : 0; // low half of the 64-bit di_flags2
  if (version === 3 && v.u64be(152) !== ino) {
    throw corrupt(structure, `the inode says it is number ${v.u64be(152)}`, offset + 152);
  }
  const dataExtents = flags2 & DIFLAG2.NREXT64 ? v.u64be(24) : v.u32be(76);
  if (format === FORMAT.EXTENTS && dataExtents * 16 > dataForkBytes) {
    throw corrupt(structure, `${dataExtents} extent records do not fit the ${dataForkBytes}-byte data fork`, offset + 76);
  }
  if (v.u8(56) & 0x80) throw corrupt(structure, 'negative file size', offset + 56);
  const size = v.u64be(56);

  const bigtime = (flags2 & DIFLAG2.BIGTIME) !== 0;
  const time = (at: number): number => {
    if (bigtime) {
      const ns = v.bytes(at, 8).readBigUInt64BE(0);
      const secs = ns / 1_000_000_000n;
      return Number(secs) - BIGTIME_EPOCH_OFFSET + Number(ns % 1_000_000_000n) / 1e9;
    }
    return (v.u32be(at) | 0) + v.u32be(at + 4) / 1e9; // signed 32-bit seconds, then nanoseconds
  };
  return {
    ino,
    offset,
    version,
    mode,
    type,
    format,
    uid: v.u32be(8),
    gid: v.u32be(12),
    nlink: version === 1 ? v.u16be(6) : v.u32be(16),
    size,
    atime: time(32),
    mtime: time(40),
    ctime: time(48),
    crtime: version === 3 ? time(144) : undefined,
    flags: v.u16be(90),
    flags2,
    dataExtents,
    dataFork: v.slice(coreBytes, dataForkBytes, `data fork of XFS inode ${ino}`),
  };
}

export function inodeStat(inode: XfsInode): Stat {
  return {
    type: inode.type,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    atime: inode.atime,
    mtime: inode.mtime,
    ctime: inode.ctime,
    crtime: inode.crtime,
    ino: inode.ino,
    nlink: inode.nlink,
    flags: { immutable: (inode.flags & DIFLAG.IMMUTABLE) !== 0, appendOnly: (inode.flags & DIFLAG.APPEND) !== 0 },
  };
}
