/**
 * What a volume holds, told by magic bytes at the places each format documents (the
 * same places blkid looks), with the names blkid gives: 'ext2', 'ext3', 'ext4', 'jbd',
 * 'xfs', 'btrfs', 'swap', 'LVM2_member', 'crypto_LUKS', 'vfat', 'ntfs', 'squashfs',
 * 'iso9660', 'BitLocker'. Only the first 68 KiB are read (the btrfs superblock at 64 KiB is the
 * furthest magic), and nothing is trusted beyond the magic and a few sanity checks:
 * the filesystem reader validates the rest.
 *
 * Containers that carry other formats (LUKS, LVM) come first, so a stale filesystem
 * signature left inside them does not win.
 */
import type { ByteSource } from '../sources/byte-source.js';

const PROBE_BYTES = 68 * 1024;
const EXT_SUPERBLOCK = 1024;

export async function probeFilesystem(source: ByteSource): Promise<string | null> {
  const head = await source.read(0, Math.min(source.size, PROBE_BYTES));
  const at = (offset: number, magic: string): boolean =>
    head.length >= offset + magic.length && head.toString('latin1', offset, offset + magic.length) === magic;

  // LUKS1 and LUKS2 share the 6-byte magic; the version follows.
  if (at(0, 'LUKS\xba\xbe') && head.length >= 8 && [1, 2].includes(head.readUInt16BE(6))) return 'crypto_LUKS';
  // LVM2: a "LABELONE" label in one of the first four sectors, type "LVM2 001" at +24.
  for (let sector = 0; sector < 4; sector++) {
    if (at(sector * 512, 'LABELONE') && at(sector * 512 + 24, 'LVM2 001')) return 'LVM2_member';
  }
  if (head.length >= EXT_SUPERBLOCK + 0x68 && head.readUInt16LE(EXT_SUPERBLOCK + 0x38) === 0xef53) {
    const kind = extKind(head);
    if (kind) return kind;
  }
  if (at(0, 'XFSB')) return 'xfs';
  if (at(0x10040, '_BHRfS_M')) return 'btrfs';
  // The swap signature ends the first page, whatever the page size of the machine that made it.
  for (const page of [4096, 8192, 16384, 65536]) {
    if (at(page - 10, 'SWAPSPACE2') || at(page - 10, 'SWAP-SPACE')) return 'swap';
  }
  if (at(0, 'hsqs') || at(0, 'sqsh')) return 'squashfs';
  if (at(3, 'NTFS    ') && hasSaneBpb(head)) return 'ntfs';
  // BitLocker (Vista and later) replaces the NTFS OEM identifier with its own.
  if (at(3, '-FVE-FS-')) return 'BitLocker';
  if ((at(0x52, 'FAT32   ') || at(0x36, 'FAT16   ') || at(0x36, 'FAT12   ') || at(0x36, 'FAT     ')) && hasSaneBpb(head)) return 'vfat';
  // ISO 9660: a volume descriptor ("CD001" after its type byte) at sector 16 of 2048 bytes.
  if (at(0x8001, 'CD001')) return 'iso9660';
  return null;
}

/**
 * ext2, ext3 or ext4, by the rule blkid uses: a journal device is 'jbd'; any feature
 * ext3 did not have makes it ext4; else a journal makes it ext3, and none ext2.
 * Null when the block size is impossible (the magic alone was a coincidence).
 */
function extKind(head: Buffer): string | null {
  const sb = EXT_SUPERBLOCK;
  const logBlockSize = head.readUInt32LE(sb + 0x18);
  if (logBlockSize > 6) return null; // 1 KiB << 6 = 64 KiB, the largest ext block size
  const compat = head.readUInt32LE(sb + 0x5c);
  const incompat = head.readUInt32LE(sb + 0x60);
  const roCompat = head.readUInt32LE(sb + 0x64);
  const COMPAT_HAS_JOURNAL = 0x4;
  const INCOMPAT_JOURNAL_DEV = 0x8;
  // What ext3 understood: filetype, needs_recovery, meta_bg / sparse_super, large_file, btree_dir.
  const EXT3_INCOMPAT = 0x2 | 0x4 | 0x10;
  const EXT3_RO_COMPAT = 0x1 | 0x2 | 0x4;
  if (incompat & INCOMPAT_JOURNAL_DEV) return 'jbd';
  if (incompat & ~EXT3_INCOMPAT || roCompat & ~EXT3_RO_COMPAT) return 'ext4';
  return compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
}

/** A FAT/NTFS BIOS parameter block with a power-of-two sector size and cluster size. */
function hasSaneBpb(head: Buffer): boolean {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return false;
  const bytesPerSector = head.readUInt16LE(11);
  const sectorsPerCluster = head[13]!;
  const powerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
  // NTFS writes clusters above 128 sectors as a negative power of two (0xF4 = 2^12).
  return bytesPerSector >= 512 && bytesPerSector <= 4096 && powerOfTwo(bytesPerSector) && (powerOfTwo(sectorsPerCluster) || sectorsPerCluster >= 0xf4);
}
