/**
 * Names of MBR partition type bytes, for the volume listing, as util-linux's fdisk
 * prints them; shown as "0x83 Linux". Types not listed are shown by number only.
 */
const NAMES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16 <32M',
  0x05: 'Extended',
  0x06: 'FAT16',
  0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32',
  0x0c: 'W95 FAT32 (LBA)',
  0x0e: 'W95 FAT16 (LBA)',
  0x0f: "W95 Ext'd (LBA)",
  0x11: 'Hidden FAT12',
  0x14: 'Hidden FAT16 <32M',
  0x16: 'Hidden FAT16',
  0x17: 'Hidden HPFS/NTFS',
  0x1b: 'Hidden W95 FAT32',
  0x1c: 'Hidden W95 FAT32 (LBA)',
  0x1e: 'Hidden W95 FAT16 (LBA)',
  0x27: 'Hidden NTFS WinRE',
  0x41: 'PPC PReP Boot',
  0x42: 'SFS',
  0x81: 'Minix / old Linux',
  0x82: 'Linux swap / Solaris',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x86: 'NTFS volume set',
  0x87: 'NTFS volume set',
  0x88: 'Linux plaintext',
  0x8e: 'Linux LVM',
  0xa5: 'FreeBSD',
  0xa6: 'OpenBSD',
  0xa8: 'Darwin UFS',
  0xa9: 'NetBSD',
  0xaf: 'HFS / HFS+',
  0xbf: 'Solaris',
  0xda: 'Non-FS data',
  0xea: 'Linux extended boot',
  0xee: 'GPT',
  0xef: 'EFI (FAT-12/16/32)',
  0xfb: 'VMware VMFS',
  0xfc: 'VMware VMKCORE',
  0xfd: 'Linux raid autodetect',
};

/** Every type byte named here, for tests that compare the names with util-linux's. */
export const NAMED_MBR_TYPES: readonly number[] = Object.keys(NAMES).map(Number);

/** "0x83 Linux", or "0x9b" for a type without a name. */
export function mbrTypeName(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, '0')}`;
  const name = NAMES[type];
  return name ? `${hex} ${name}` : hex;
}
