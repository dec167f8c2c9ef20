/**
 * Rewrites the metadata_csum checksums of an ext4 image patched in memory, so a test of
 * a range or consistency check (an impossible geometry, an extent that loops) reaches
 * that check instead of stopping at the checksum in front of it. The checksum code is
 * minescan's own, which test/mountfs/ext4-checksums.test.ts holds to what mkfs.ext4 and
 * debugfs write. Only raw fields are read: the superblock may be impossible on purpose.
 */
import {
  GD_CHECKSUM_FIELD,
  INODE_CHECKSUM_HI,
  INODE_CHECKSUM_LO,
  SB_CHECKSUM_FIELD,
  checksumSeed,
  direntBlockChecksum,
  extentBlockChecksum,
  groupDescriptorCrc32c,
  inodeBlocksSeed,
  inodeChecksumMatches,
  superblockChecksum,
} from '../../mountfs/fs/ext4/checksums.js';

const SB = 1024;

export interface Reseal {
  /** Groups whose descriptor (in the primary, contiguous table) was patched. */
  groups?: number[];
  /** Inodes whose record was patched: number and absolute byte offset. */
  inodes?: Array<{ ino: number; offset: number }>;
  /** Extent tree blocks and directory leaf blocks that were patched, with the inode that owns each. */
  blocks?: Array<{ inode: { ino: number; offset: number }; block: number; kind: 'extent' | 'dirent' }>;
}

/** Recomputes the descriptor, inode, block and (last, as it covers nothing else) superblock checksums. */
export function resealExt4(image: Buffer, what: Reseal = {}): void {
  if (!(image.readUInt32LE(SB + 0x64) & 0x400)) return; // no metadata_csum
  const uuid = image.subarray(SB + 0x68, SB + 0x78);
  const seed = checksumSeed(uuid, image.readUInt32LE(SB + 0x60) & 0x2000 ? image.readUInt32LE(SB + 0x270) : undefined);
  const blockSize = 1024 << image.readUInt32LE(SB + 0x18);
  const descSize = image.readUInt32LE(SB + 0x60) & 0x80 ? image.readUInt16LE(SB + 0xfe) : 32;
  const inodeSize = image.readUInt16LE(SB + 0x58);
  const table = (Math.floor(SB / blockSize) + 1) * blockSize;
  for (const g of what.groups ?? []) {
    const at = table + g * descSize;
    image.writeUInt16LE(groupDescriptorCrc32c(seed, g, image.subarray(at, at + descSize)), at + GD_CHECKSUM_FIELD);
  }
  for (const { ino, offset } of what.inodes ?? []) {
    const raw = image.subarray(offset, offset + inodeSize);
    const { computed } = inodeChecksumMatches(seed, ino, raw);
    image.writeUInt16LE(computed & 0xffff, offset + INODE_CHECKSUM_LO);
    if (inodeSize > 128 && 128 + raw.readUInt16LE(0x80) >= INODE_CHECKSUM_HI + 2) {
      image.writeUInt16LE(computed >>> 16, offset + INODE_CHECKSUM_HI);
    }
  }
  for (const { inode, block, kind } of what.blocks ?? []) {
    const inodeSeed = inodeBlocksSeed(seed, inode.ino, image.readUInt32LE(inode.offset + 0x64));
    const raw = image.subarray(block * blockSize, (block + 1) * blockSize);
    const sum = kind === 'extent' ? extentBlockChecksum(inodeSeed, raw) : direntBlockChecksum(inodeSeed, raw);
    if (!sum) throw new Error(`block ${block} has no ${kind} checksum tail`);
    raw.writeUInt32LE(sum.computed, sum.at);
  }
  image.writeUInt32LE(superblockChecksum(image.subarray(SB, SB + 1024)), SB + SB_CHECKSUM_FIELD);
}
