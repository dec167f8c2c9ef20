/**
 * The classic PC partition table: four primary entries in the boot sector (signature
 * 0x55AA at byte 510), and extended partitions whose chain of EBRs holds the logical
 * partitions (numbered from 5). The chain is attacker-controlled: every link must stay
 * inside the extended partition and move forward, and the chain is cut at 128 links.
 * Sectors are 512 bytes: MBR disks with 4 KiB logical sectors are rare enough that
 * such a disk is read as GPT or not at all.
 */
import { BinaryView } from '../binary.js';
import type { ByteSource } from '../sources/byte-source.js';
import { SliceByteSource } from '../sources/slice-source.js';
import type { Volume, VolumeLayout } from './types.js';

const SECTOR = 512;
const MAX_LOGICAL = 128;
const EXTENDED = new Set([0x05, 0x0f, 0x85]);
export const PROTECTIVE = 0xee;

const TYPE_NAMES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16',
  0x05: 'extended',
  0x06: 'FAT16',
  0x07: 'NTFS/exFAT',
  0x0b: 'FAT32',
  0x0c: 'FAT32 (LBA)',
  0x0e: 'FAT16 (LBA)',
  0x0f: 'extended (LBA)',
  0x82: 'Linux swap',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xa5: 'FreeBSD',
  0xee: 'GPT protective',
  0xef: 'EFI System',
  0xfd: 'Linux raid autodetect',
};

interface Entry {
  bootFlag: number;
  type: number;
  firstLba: number;
  sectors: number;
}

function entries(sector: Buffer, offset: number): Entry[] {
  const v = new BinaryView(sector, 'MBR', offset);
  return [0, 1, 2, 3].map((i) => {
    const e = 446 + i * 16;
    return { bootFlag: v.u8(e), type: v.u8(e + 4), firstLba: v.u32le(e + 8), sectors: v.u32le(e + 12) };
  });
}

export function typeName(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, '0')}`;
  return TYPE_NAMES[type] ? `${hex} ${TYPE_NAMES[type]}` : hex;
}

/** True when the first sector holds a plausible partition table (not a FAT or NTFS boot sector). */
export function looksLikeMbr(sector: Buffer, diskSectors: number): boolean {
  if (sector.length < SECTOR || sector[510] !== 0x55 || sector[511] !== 0xaa) return false;
  const list = entries(sector, 0);
  const used = list.filter((e) => e.type !== 0);
  if (used.length === 0) return false;
  return list.every((e) => (e.bootFlag === 0 || e.bootFlag === 0x80) && (e.type === 0 || (e.firstLba > 0 && e.sectors > 0 && (e.type === PROTECTIVE || e.firstLba < diskSectors))));
}

export function isProtectiveMbr(sector: Buffer): boolean {
  return entries(sector, 0).some((e) => e.type === PROTECTIVE);
}

export async function readMbr(disk: ByteSource): Promise<VolumeLayout> {
  const diskSectors = Math.floor(disk.size / SECTOR);
  const warnings: string[] = [];
  const volumes: Volume[] = [];
  const add = (index: number, type: number, firstLba: number, sectors: number) => {
    if (firstLba + sectors > diskSectors) {
      warnings.push(`MBR partition ${index} (sectors ${firstLba}+${sectors}) runs past the end of the disk; it is cut at the end`);
    }
    const start = firstLba * SECTOR;
    const size = Math.min(sectors * SECTOR, disk.size - start);
    volumes.push({ index, scheme: 'mbr', type: typeName(type), start, size, source: new SliceByteSource(disk, start, size, `partition ${index} of ${disk.description}`) });
  };
  const boot = await disk.read(0, SECTOR);
  const primaries = entries(boot, 0);
  let logical = 5;
  for (let i = 0; i < 4; i++) {
    const e = primaries[i]!;
    if (e.type === 0 || e.sectors === 0) continue;
    if (e.firstLba >= diskSectors) {
      warnings.push(`MBR partition ${i + 1} starts past the end of the disk; skipped`);
      continue;
    }
    if (!EXTENDED.has(e.type)) {
      add(i + 1, e.type, e.firstLba, e.sectors);
      continue;
    }
    // Logical partitions: each EBR's first entry is a partition relative to that EBR, its second links to the next EBR relative to the extended partition.
    const extStart = e.firstLba;
    const extEnd = Math.min(diskSectors, e.firstLba + e.sectors);
    let ebr = extStart;
    const seen = new Set<number>();
    for (let n = 0; n < MAX_LOGICAL; n++) {
      if (seen.has(ebr) || ebr < extStart || ebr >= extEnd) {
        warnings.push(`the chain of extended boot records ${seen.has(ebr) ? 'loops' : 'leaves the extended partition'} at sector ${ebr}; later logical partitions are not listed`);
        break;
      }
      seen.add(ebr);
      const sector = await disk.read(ebr * SECTOR, SECTOR);
      if (sector.length < SECTOR || sector[510] !== 0x55 || sector[511] !== 0xaa) {
        warnings.push(`extended boot record at sector ${ebr} has no signature`);
        break;
      }
      const [part, link] = entries(sector, ebr * SECTOR);
      if (part!.type !== 0 && part!.sectors > 0) {
        const first = ebr + part!.firstLba;
        if (first + part!.sectors > extEnd) warnings.push(`logical partition ${logical} runs past its extended partition`);
        add(logical, part!.type, first, Math.min(part!.sectors, Math.max(0, extEnd - first)));
        logical++;
      }
      if (link!.type === 0 || !EXTENDED.has(link!.type)) break;
      ebr = extStart + link!.firstLba;
      if (n === MAX_LOGICAL - 1) warnings.push(`more than ${MAX_LOGICAL} logical partitions; the rest are not listed`);
    }
  }
  return { scheme: 'mbr', sectorSize: SECTOR, volumes, warnings };
}
