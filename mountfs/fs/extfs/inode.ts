/**
 * The ext2/3/4 on-disk inode (Documentation/filesystems/ext4/inodes.rst): type, owner,
 * size, times with the extra nanosecond/epoch fields of large inodes, flags, the 60-byte
 * i_block area (extent root, block map, fast symlink or inline data), and the in-inode
 * extended attributes where inline data keeps its tail.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { FileType, Stat } from '../types.js';

export const FLAG_IMMUTABLE = 0x10;
export const FLAG_APPEND = 0x20;
export const FLAG_HUGE_FILE = 0x40000;
export const FLAG_EXTENTS = 0x80000;
export const FLAG_INLINE_DATA = 0x10000000;

const GOOD_OLD_INODE_SIZE = 128;
const XATTR_MAGIC = 0xea020000;

export interface Inode {
  ino: number;
  mode: number;
  type: FileType;
  uid: number;
  gid: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  crtime?: number;
  links: number;
  flags: number;
  /** i_blocks_lo: 512-byte sectors (or fs blocks with huge_file), used to tell fast symlinks. */
  blocksLo: number;
  fileAcl: number;
  /** The 60 bytes of i_block. */
  block: Buffer;
  /** Value of the "system.data" in-inode attribute (inline data past the first 60 bytes). */
  inlineTail?: Buffer;
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

export function parseInode(buf: Buffer, ino: number, offset: number, inodeSize: number): Inode {
  const v = new BinaryView(buf, `ext inode ${ino}`, offset);
  const mode = v.u16le(0x00);
  const extra = inodeSize > GOOD_OLD_INODE_SIZE ? v.u16le(0x80) : 0;
  if (inodeSize > GOOD_OLD_INODE_SIZE && (extra > inodeSize - GOOD_OLD_INODE_SIZE || extra % 4 !== 0)) {
    throw corrupt(`ext inode ${ino}`, `extra inode size ${extra} does not fit the ${inodeSize}-byte inode`, offset + 0x80);
  }
  const has = (field: number) => extra >= field + 4 - GOOD_OLD_INODE_SIZE;
  const time = (secAt: number, extraAt: number) => {
    const sec = v.i32le(secAt);
    if (!has(extraAt)) return sec;
    const x = v.u32le(extraAt);
    return sec + (x & 3) * 2 ** 32 + (x >>> 2) / 1e9;
  };
  const type = TYPES[mode & 0xf000] ?? 'unknown';
  const sizeHigh = v.u32le(0x6c);
  const inode: Inode = {
    ino,
    mode,
    type,
    uid: v.u16le(0x02) | (v.u16le(0x78) << 16),
    gid: v.u16le(0x18) | (v.u16le(0x7a) << 16),
    size: v.u32le(0x04) + (type === 'directory' ? 0 : sizeHigh * 2 ** 32),
    atime: time(0x08, 0x8c),
    ctime: time(0x0c, 0x84),
    mtime: time(0x10, 0x88),
    crtime: has(0x94) ? time(0x90, 0x94) : undefined,
    links: v.u16le(0x1a),
    flags: v.u32le(0x20),
    blocksLo: v.u32le(0x1c),
    fileAcl: v.u32le(0x68) + v.u16le(0x76) * 2 ** 32,
    block: Buffer.from(v.bytes(0x28, 60)),
  };
  if (inode.flags & FLAG_INLINE_DATA && inodeSize > GOOD_OLD_INODE_SIZE) {
    inode.inlineTail = inlineDataAttribute(v, GOOD_OLD_INODE_SIZE + extra, inodeSize);
  }
  return inode;
}

/**
 * The in-inode extended attribute area: a magic, then entries whose values sit at
 * offsets from the first entry. Inline data past 60 bytes is the value of "data" in
 * the "system." namespace (index 7).
 */
function inlineDataAttribute(v: BinaryView, start: number, inodeSize: number): Buffer | undefined {
  if (start + 4 > inodeSize || v.u32le(start) !== XATTR_MAGIC) return undefined;
  const first = start + 4;
  let pos = first;
  while (pos + 16 <= inodeSize) {
    const nameLen = v.u8(pos);
    const nameIndex = v.u8(pos + 1);
    if (nameLen === 0 && nameIndex === 0 && v.u32le(pos) === 0) break;
    const valueOffs = v.u16le(pos + 2);
    const valueInum = v.u32le(pos + 4);
    const valueSize = v.u32le(pos + 8);
    const name = v.cstring(pos + 16, nameLen, 'latin1');
    if (nameIndex === 7 && name === 'data' && valueInum === 0) {
      if (first + valueOffs + valueSize > inodeSize) throw corrupt(`ext inode xattr`, 'inline data value runs past the inode', v.baseOffset + pos);
      return Buffer.from(v.bytes(first + valueOffs, valueSize));
    }
    pos += (16 + nameLen + 3) & ~3;
  }
  return undefined;
}

export function inodeStat(inode: Inode): Stat {
  return {
    type: inode.type,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.type === 'directory' ? inode.size : inode.size,
    atime: inode.atime,
    mtime: inode.mtime,
    ctime: inode.ctime,
    crtime: inode.crtime,
    ino: inode.ino,
    nlink: inode.links,
    flags: { immutable: (inode.flags & FLAG_IMMUTABLE) !== 0, appendOnly: (inode.flags & FLAG_APPEND) !== 0 },
  };
}
