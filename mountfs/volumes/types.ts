/**
 * Volume systems split a byte source into the byte sources of its partitions.
 */
import type { MountfsError } from '../errors.js';
import type { ByteSource } from '../sources/byte-source.js';

export type PartitionScheme = 'gpt' | 'mbr' | 'none';

export interface Volume {
  /** 1-based partition number as the OS would name it (sda1 = 1); 0 for a bare filesystem. */
  index: number;
  scheme: PartitionScheme;
  /** Human-readable type: "Linux filesystem", "EFI System", "0x83 Linux", "extended", ... */
  type: string;
  /** Byte offset within the disk. */
  start: number;
  /** Size in bytes. */
  size: number;
  /** GPT partition name when set. */
  name?: string;
  /** A view of exactly this partition's bytes. */
  source: ByteSource;
  /** The volume whose first bytes these are ("GPT partition 1"): listed, not scanned again (overlaps.ts). */
  aliasOf?: string;
  /** Why the volume is listed but not opened (the cap on overlapping volumes). */
  skipReason?: string;
  /** What the listing should say about it: sectors shared with another volume. */
  notes?: string[];
}

export interface VolumeLayout {
  scheme: PartitionScheme;
  /** Logical sector size the table was found with (512 or 4096); absent for "none". */
  sectorSize?: number;
  volumes: Volume[];
  /** Damage that may have hidden volumes or data, typed (kind, structure, offset): each makes the scan incomplete. */
  warnings: MountfsError[];
  /** Oddities that cost nothing, e.g. "primary GPT header damaged, backup used": the report says them, the scan is still complete. */
  notes?: string[];
}
