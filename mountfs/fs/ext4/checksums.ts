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

const ZERO16 = Buffer.alloc(2);

const CRC16_TABLE = reflectedCrcTable(0xa001);

function crc16(seed: number, buf: Uint8Array): number {
  let c = seed & 0xffff;
  for (let i = 0; i < buf.length; i++) c = CRC16_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}
