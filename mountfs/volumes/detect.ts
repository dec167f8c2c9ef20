/**
 * Which partition scheme a disk uses: GPT (also behind a hybrid MBR, or with no MBR at
 * all), then MBR, else none — a bare filesystem, one volume covering the whole source.
 * A damaged table never stops the scan: the disk is then read as bare, with a warning.
 */
import type { ByteSource } from '../sources/byte-source.js';
import { SliceByteSource } from '../sources/slice-source.js';
import { readGpt } from './gpt.js';
import { isProtectiveMbr, looksLikeMbr, readMbr } from './mbr.js';
import type { VolumeLayout } from './types.js';

export async function detectVolumes(disk: ByteSource): Promise<VolumeLayout> {
  const warnings: string[] = [];
  const sector0 = await disk.read(0, 512);
  const gpt = await readGpt(disk).catch((err: Error) => {
    warnings.push(`GPT: ${err.message}`);
    return null;
  });
  if (gpt) return { ...gpt, warnings: [...warnings, ...gpt.warnings] };
  if (looksLikeMbr(sector0, Math.floor(disk.size / 512))) {
    if (isProtectiveMbr(sector0)) {
      warnings.push('protective MBR found but neither GPT header is valid; the disk is read as a bare filesystem');
    } else {
      try {
        const mbr = await readMbr(disk);
        if (mbr.volumes.length > 0) return { ...mbr, warnings: [...warnings, ...mbr.warnings] };
        warnings.push(...mbr.warnings);
      } catch (err) {
        warnings.push(`MBR: ${(err as Error).message}`);
      }
    }
  }
  return {
    scheme: 'none',
    volumes: [{ index: 0, scheme: 'none', type: 'whole disk', start: 0, size: disk.size, source: new SliceByteSource(disk, 0, disk.size, disk.description) }],
    warnings,
  };
}
