/**
 * What a volume holds, told by magic bytes at their documented places (as blkid does):
 * ext2/3/4, XFS, btrfs, swap, LVM2 physical volumes, LUKS, FAT, NTFS, squashfs, ISO 9660.
 */
import type { ByteSource } from '../sources/byte-source.js';

const EXT_SUPERBLOCK = 1024;

export async function probeFilesystem(source: ByteSource): Promise<string | null> {
  const head = await source.read(0, Math.min(source.size, 68 * 1024));
  const at = (offset: number, text: string) => head.length >= offset + text.length && head.toString('latin1', offset, offset + text.length) === text;

  if (head.length >= EXT_SUPERBLOCK + 0x68 && head.readUInt16LE(EXT_SUPERBLOCK + 0x38) === 0xef53) return extKind(head);
  if (at(0, 'XFSB')) return 'xfs';
  for (let sector = 0; sector < 4; sector++) {
    if (at(sector * 512, 'LABELONE') && at(sector * 512 + 24, 'LVM2 001')) return 'LVM2_member';
  }
  if (at(0, 'LUKS\xba\xbe') || at(0, 'SKUL\xba\xbe')) return 'crypto_LUKS';
  if (at(0x10040, '_BHRfS_M')) return 'btrfs';
  if (at(4096 - 10, 'SWAPSPACE2') || at(4096 - 10, 'SWAP-SPACE')) return 'swap';
  if (at(0, 'hsqs')) return 'squashfs';
  if (at(3, 'NTFS    ')) return 'ntfs';
  if (at(0x52, 'FAT32   ') || at(0x36, 'FAT16   ') || at(0x36, 'FAT12   ')) return 'vfat';
  if (source.size >= 0x8006) {
    const iso = await source.read(0x8001, 5);
    if (iso.toString('latin1') === 'CD001') return 'iso9660';
  }
  return null;
}

/** ext2, ext3 or ext4 from the feature flags, as blkid names them. */
function extKind(head: Buffer): string {
  const compat = head.readUInt32LE(EXT_SUPERBLOCK + 0x5c);
  const incompat = head.readUInt32LE(EXT_SUPERBLOCK + 0x60);
  const roCompat = head.readUInt32LE(EXT_SUPERBLOCK + 0x64);
  const ext4Incompat = 0x40 | 0x80 | 0x200 | 0x8000 | 0x10 | 0x400 | 0x4000 | 0x2000;
  const ext4Ro = 0x8 | 0x10 | 0x20 | 0x40 | 0x400;
  if (incompat & ext4Incompat || roCompat & ext4Ro) return 'ext4';
  return compat & 0x4 ? 'ext3' : 'ext2';
}
