/**
 * ext4's metadata checksums, so a damaged or tampered superblock, group descriptor or
 * inode is reported as damaged instead of being read as if it were true.
 *
 * Follows Documentation/filesystems/ext4/ (super.rst, group_descr.rst, inodes.rst and
 * "Checksums" in overview): with metadata_csum every checksum is CRC-32C without the
 * final inversion. The superblock's covers its first 1020 bytes, seeded with ~0. The
 * others start from the filesystem seed (s_checksum_seed with csum_seed, else the
 * CRC-32C of the UUID), chain the little-endian group or inode number (and, for an
 * inode, i_generation), then the record with its checksum field counted as zero; they
 * keep the low 16 bits where the record has room for only 16. Without metadata_csum,
 * gdt_csum (uninit_bg) protects the descriptors with CRC-16 (polynomial 0x8005,
 * reflected) over the UUID, the group number and the descriptor minus its checksum.
 *
 * The blocks an inode owns are checked from the inode's own seed (the filesystem seed,
 * then its number and i_generation; fs/ext4/ialloc.c): an extent tree block by the
 * ext4_extent_tail after its eh_max entries (ifork.rst), a directory leaf block by
 * the ext4_dir_entry_tail in its last 12 bytes, and an htree root or node by the
 * dx_tail after its dx_limit entries, over the block up to its dx_count entries, then
 * the tail with its checksum counted as zero (directory.rst; fs/ext4/namei.c ext4_dx_csum).
 */
import { reflectedCrcTable } from '../../crc32.js';
import { crc32cUpdate } from '../../crc32c.js';

export const SB_CHECKSUM_FIELD = 0x3fc;
/** bg_checksum, a 16-bit field in every descriptor layout. */
export const GD_CHECKSUM_FIELD = 0x1e;
/** i_checksum_lo (in osd2) and i_checksum_hi (in the extra part, when i_extra_isize reaches it). */
export const INODE_CHECKSUM_LO = 0x7c;
export const INODE_CHECKSUM_HI = 0x82;
const INODE_GENERATION = 0x64;
const BASE_INODE_SIZE = 128;

const le32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** The superblock's s_checksum as it should be: the raw CRC-32C of bytes 0..0x3fb. */
export function superblockChecksum(raw: Uint8Array): number {
  return crc32cUpdate(0xffffffff, raw.subarray(0, SB_CHECKSUM_FIELD));
}

/** The seed every other metadata_csum checksum starts from. */
export function checksumSeed(uuid: Uint8Array, storedSeed: number | undefined): number {
  return storedSeed ?? crc32cUpdate(0xffffffff, uuid);
}

/** bg_checksum for descriptor `raw` (s_desc_size bytes) of `group`, by metadata_csum's rule. */
export function groupDescriptorCrc32c(seed: number, group: number, raw: Uint8Array): number {
  let c = crc32cUpdate(seed, le32(group));
  c = crc32cUpdate(c, raw.subarray(0, GD_CHECKSUM_FIELD));
  c = crc32cUpdate(c, ZERO16);
  c = crc32cUpdate(c, raw.subarray(GD_CHECKSUM_FIELD + 2));
  return c & 0xffff;
}

/** bg_checksum for descriptor `raw` of `group`, by gdt_csum's (uninit_bg) CRC-16 rule. */
export function groupDescriptorCrc16(uuid: Uint8Array, group: number, raw: Uint8Array): number {
  let c = crc16(0xffff, uuid);
  c = crc16(c, le32(group));
  c = crc16(c, raw.subarray(0, GD_CHECKSUM_FIELD));
  return crc16(c, raw.subarray(GD_CHECKSUM_FIELD + 2));
}

/**
 * Whether inode record `raw` (s_inode_size bytes) of inode `ino` carries the checksum
 * it should. An all-zero record passes, as in e2fsprogs: a slot never written has no
 * checksum, and its zero mode already makes it no file.
 */
export function inodeChecksumMatches(seed: number, ino: number, raw: Uint8Array): { ok: boolean; stored: number; computed: number } {
  const view = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const hasHi = raw.length > BASE_INODE_SIZE && BASE_INODE_SIZE + view.readUInt16LE(0x80) >= INODE_CHECKSUM_HI + 2;
  let c = crc32cUpdate(seed, le32(ino));
  c = crc32cUpdate(c, raw.subarray(INODE_GENERATION, INODE_GENERATION + 4));
  c = crc32cUpdate(c, raw.subarray(0, INODE_CHECKSUM_LO));
  c = crc32cUpdate(c, ZERO16);
  if (hasHi) {
    c = crc32cUpdate(c, raw.subarray(INODE_CHECKSUM_LO + 2, INODE_CHECKSUM_HI));
    c = crc32cUpdate(c, ZERO16);
    c = crc32cUpdate(c, raw.subarray(INODE_CHECKSUM_HI + 2));
  } else {
    c = crc32cUpdate(c, raw.subarray(INODE_CHECKSUM_LO + 2));
  }
  const stored = view.readUInt16LE(INODE_CHECKSUM_LO) + (hasHi ? view.readUInt16LE(INODE_CHECKSUM_HI) * 0x10000 : 0);
  const computed = hasHi ? c >>> 0 : c & 0xffff;
  const ok = stored === computed || raw.subarray(0, BASE_INODE_SIZE).every((b) => b === 0);
  return { ok, stored, computed };
}

/** The seed of the checksums of the blocks inode `ino` owns (its ei->i_csum_seed). */
export function inodeBlocksSeed(seed: number, ino: number, generation: number): number {
  return crc32cUpdate(crc32cUpdate(seed, le32(ino)), le32(generation));
}

/** A checksum as stored and as computed, with where it is stored within the block. */
export interface BlockChecksum {
  stored: number;
  computed: number;
  /** Byte offset of the stored checksum in the block. */
  at: number;
}

const EXTENT_HEADER = 12;
const EXTENT_ENTRY = 12;

/** ext4_extent_tail: after eh_max entries, the CRC-32C of everything before it. */
export function extentBlockChecksum(inodeSeed: number, block: Buffer): BlockChecksum | undefined {
  const at = EXTENT_HEADER + block.readUInt16LE(4) * EXTENT_ENTRY;
  if (at + 4 > block.length) return undefined;
  return { stored: block.readUInt32LE(at), computed: crc32cUpdate(inodeSeed, block.subarray(0, at)) >>> 0, at };
}

const DIRENT_TAIL = 12;
const DIRENT_TAIL_FT = 0xde;

/**
 * ext4_dir_entry_tail: a fake entry of inode 0, rec_len 12, name_len 0 and file type
 * 0xDE in the block's last 12 bytes, then the CRC-32C of everything before it.
 * Undefined when the block has no such tail.
 */
export function direntBlockChecksum(inodeSeed: number, block: Buffer): BlockChecksum | undefined {
  const t = block.length - DIRENT_TAIL;
  if (t < 0 || block.readUInt32LE(t) !== 0 || block.readUInt16LE(t + 4) !== DIRENT_TAIL || block[t + 6] !== 0 || block[t + 7] !== DIRENT_TAIL_FT) return undefined;
  return { stored: block.readUInt32LE(t + 8), computed: crc32cUpdate(inodeSeed, block.subarray(0, t)) >>> 0, at: t + 8 };
}

const DX_ENTRY = 8;
/** Where dx_countlimit sits: after the "." and ".." entries and dx_root_info (8 bytes) in a root, after the fake entry in a node. */
const DX_ROOT_COUNT = 32;
const DX_NODE_COUNT = 8;

/**
 * Where an htree block keeps its dx_countlimit (get_dx_countlimit in fs/ext4/namei.c):
 * a node starts with a fake entry spanning the block, a root with "." (rec_len 12) and
 * ".." spanning the rest, then a dx_root_info of 8 bytes. Undefined for any other block.
 */
export function dxCountOffset(block: Buffer, blockSize: number): number | undefined {
  const recLen = (raw: number) => (blockSize < 65536 ? raw : raw === 65535 || raw === 0 ? blockSize : (raw & 0xfffc) | ((raw & 3) << 16));
  if (block.length < DX_ROOT_COUNT + 4) return undefined;
  const first = recLen(block.readUInt16LE(4));
  if (first === blockSize) return DX_NODE_COUNT;
  if (first !== 12 || recLen(block.readUInt16LE(12 + 4)) !== blockSize - 12) return undefined;
  // dx_root_info: reserved_zero, then info_length at byte 5 of it.
  if (block.readUInt32LE(24) !== 0 || block[24 + 5] !== 8) return undefined;
  return DX_ROOT_COUNT;
}

/**
 * dx_tail, after dx_limit entries: the CRC-32C of the block up to its dx_count entries,
 * then of the tail's reserved word and a zero checksum. An error message when limit and count do not leave
 * room for it (the kernel refuses such a block too).
 */
export function dxBlockChecksum(inodeSeed: number, block: Buffer, countOffset: number): BlockChecksum | string {
  const limit = block.readUInt16LE(countOffset);
  const count = block.readUInt16LE(countOffset + 2);
  const tail = countOffset + limit * DX_ENTRY;
  if (count > limit || tail + 8 > block.length) return `dx_limit ${limit} and dx_count ${count} leave no room for the dx_tail checksum`;
  let c = crc32cUpdate(inodeSeed, block.subarray(0, countOffset + count * DX_ENTRY));
  c = crc32cUpdate(c, block.subarray(tail, tail + 4));
  c = crc32cUpdate(c, ZERO32);
  return { stored: block.readUInt32LE(tail + 4), computed: c >>> 0, at: tail + 4 };
}

const ZERO16 = Buffer.alloc(2);
const ZERO32 = Buffer.alloc(4);

const CRC16_TABLE = reflectedCrcTable(0xa001);

function crc16(seed: number, buf: Uint8Array): number {
  let c = seed & 0xffff;
  for (let i = 0; i < buf.length; i++) c = CRC16_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}
