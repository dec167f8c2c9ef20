/**
 * Which reader opens which probed filesystem. A filesystem minescan recognises but
 * does not read yet is listed in the report as not scanned, with the reason; unless it
 * is a kind that holds no Linux files (swap, a FAT partition, an external
 * journal, a CD image), that makes the scan incomplete, since the files it holds were
 * not looked at.
 */
import type { BlockCache } from '../block-cache.js';
import type { ByteSource } from '../sources/byte-source.js';
import type { RawFileSystem } from './types.js';
import { Ext4FileSystem } from './ext4/ext4-fs.js';
import { XfsFileSystem } from './xfs/xfs-fs.js';
import { NtfsFileSystem } from './ntfs/ntfs-fs.js';

type Opener = (source: ByteSource, cache?: BlockCache) => Promise<RawFileSystem>;

const OPENERS: Record<string, Opener> = {
  ext2: (s, c) => Ext4FileSystem.open(s, c),
  ext3: (s, c) => Ext4FileSystem.open(s, c),
  ext4: (s, c) => Ext4FileSystem.open(s, c),
  xfs: (s, c) => XfsFileSystem.open(s, c),
  ntfs: (s, c) => NtfsFileSystem.open(s, c),
};

export const UNSCANNED_REASONS: Record<string, string> = {
  btrfs: 'btrfs is recognised but not read yet',
  crypto_LUKS: 'LUKS-encrypted: cannot be read without the key',
  BitLocker: 'BitLocker-encrypted (a Windows volume): cannot be read without the recovery key',
  swap: 'swap space holds no files',
  vfat: 'FAT filesystem (EFI/boot): not a Linux root, not scanned',
  jbd: 'an external ext3/ext4 journal holds no files',
  iso9660: 'a CD/DVD image (ISO 9660): not a Linux root, not scanned',
};

/** Kinds whose contents a scan of a Linux server does not need: leaving them unread misses nothing. */
export const NOTHING_TO_SCAN: ReadonlySet<string> = new Set(['swap', 'vfat', 'jbd', 'iso9660']);

/** A reader for the filesystem, or null when minescan does not read this kind; `cache` is the opened target's. */
export async function openFilesystem(kind: string, source: ByteSource, cache?: BlockCache): Promise<RawFileSystem | null> {
  const open = OPENERS[kind];
  return open ? open(source, cache) : null;
}
