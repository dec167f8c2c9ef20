/**
 * Which partition scheme a disk uses, and its volumes:
 *  1. GPT, when a valid primary header is at LBA 1 whatever sector 0 holds (a
 *     protective MBR, a hybrid MBR, or nothing), or from the backup header when the
 *     primary is damaged;
 *  2. else the MBR, when sector 0 holds a plausible table (a FAT or NTFS boot sector
 *     also ends in 0x55AA, but is not one);
 *  3. else none: one volume, index 0, the whole source (a bare filesystem image).
 * A table that cannot be read never stops the scan: the disk is then read as a bare
 * filesystem and the layout's warnings say why (a damaged copy of a table whose other
 * copy was used is only a note: no volume was missed).
 */
import { corrupt, ioError, MountfsError, within } from '../errors.js';
import { probeFilesystem } from '../fs/probe.js';
import type { ByteSource } from '../sources/byte-source.js';
import { SliceByteSource } from '../sources/slice-source.js';
import { readGpt, type GptResult } from './gpt.js';
import { hasProtectiveEntry, looksLikeMbr, MBR_SECTOR, mbrEntries, PROTECTIVE_TYPE, readMbr } from './mbr.js';

/** Where the GPT header and the MBR's table lie, for the report (512-byte sectors). */
const GPT_HEADER_AT = MBR_SECTOR;
const MBR_TABLE_AT = 446;
import type { VolumeLayout } from './types.js';

export async function detectVolumes(disk: ByteSource): Promise<VolumeLayout> {
  const warnings: MountfsError[] = [];
  const notes: string[] = [];
  if (disk.size === 0) return bare(disk, [corrupt('disk', 'the source is empty (0 bytes)', 0)]);

  let sector0: Buffer;
  try {
    sector0 = await disk.read(0, MBR_SECTOR);
  } catch (err) {
    return bare(disk, [within('the first sector cannot be read', typed(err, 'MBR', 0))]);
  }
  const protective = hasProtectiveEntry(sector0);
  const mbrPlausible = looksLikeMbr(sector0, Math.floor(disk.size / MBR_SECTOR));

  let gpt: GptResult | null = null;
  try {
    gpt = await readGpt(disk);
  } catch (err) {
    warnings.push(within('the GPT cannot be read', typed(err, 'GPT header', GPT_HEADER_AT)));
  }
  if (gpt?.layout) {
    const stale = gpt.backupOnly && !protective ? await staleBackupReason(disk, mbrPlausible) : null;
    if (!stale) return { ...gpt.layout, warnings: [...warnings, ...gpt.layout.warnings] };
    notes.push(`a backup GPT header was found at the end of the disk, but LBA 1 holds no GPT header, sector 0 no protective MBR, and ${stale}: the backup is taken as stale and ignored`);
  } else if (gpt) {
    warnings.push(...gpt.warnings);
  }

  if (mbrPlausible) {
    const onlyProtective = mbrEntries(sector0).every((e) => e.type === 0 || e.type === PROTECTIVE_TYPE);
    if (onlyProtective) {
      const why = 'sector 0 is a protective MBR (type 0xEE) but no valid GPT header was found at LBA 1 or at the end of the disk (512- or 4096-byte sectors): the partitions cannot be listed, and the disk is read as a bare filesystem';
      warnings.push(corrupt('GPT header', why, GPT_HEADER_AT));
      return bare(disk, warnings);
    }
    if (protective) warnings.push(corrupt('GPT header', 'sector 0 is a hybrid MBR but no valid GPT header was found: the MBR partitions are used', GPT_HEADER_AT));
    try {
      const mbr = await readMbr(disk);
      if (mbr.volumes.length > 0) return { ...mbr, warnings: [...warnings, ...mbr.warnings], notes };
      warnings.push(...mbr.warnings, corrupt('MBR partition table', 'the MBR lists no readable partition: the disk is read as a bare filesystem', MBR_TABLE_AT));
    } catch (err) {
      warnings.push(within('the MBR cannot be read', typed(err, 'MBR partition table', MBR_TABLE_AT)));
    }
  }
  return bare(disk, warnings, notes);
}

/**
 * Why a backup-only GPT should not be believed, or null to believe it. Reformatting a
 * GPT disk (mkfs on the whole disk, or a new MBR) rewrites its start but leaves the
 * backup at the end, so a backup with no trace of GPT at the start loses to what the
 * start now holds.
 */
async function staleBackupReason(disk: ByteSource, mbrPlausible: boolean): Promise<string | null> {
  if (mbrPlausible) return 'sector 0 holds an MBR partition table';
  const fs = await probeFilesystem(disk).catch(() => null);
  return fs ? `the disk starts with a filesystem (${fs})` : null;
}

function bare(disk: ByteSource, warnings: MountfsError[], notes: string[] = []): VolumeLayout {
  return {
    scheme: 'none',
    volumes: [{ index: 0, scheme: 'none', type: 'whole disk', start: 0, size: disk.size, source: new SliceByteSource(disk, 0, disk.size, disk.description) }],
    warnings,
    notes,
  };
}

/** A read that failed without a MountfsError of its own (an errno) is an io error of the structure being read. */
function typed(err: unknown, structure: string, offset: number): MountfsError {
  if (err instanceof MountfsError) return err;
  return ioError(structure, err instanceof Error ? err.message : String(err), offset);
}
