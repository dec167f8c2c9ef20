/**
 * The classic PC (DOS) partition table: four 16-byte primary entries at byte 446 of
 * sector 0, signature 0x55 0xAA at byte 510. An extended partition (type 0x05, 0x0F or
 * 0x85) holds a chain of extended boot records (EBRs), each with one logical partition
 * (its start relative to that EBR) and a link to the next EBR (relative to the start of
 * the extended partition); logical partitions are numbered 5, 6, ... in chain order,
 * as Linux names them. The extended partitions themselves hold no filesystem and are
 * not listed as volumes.
 *
 * Everything here is attacker-controlled: a chain that loops, leaves its extended
 * partition or runs on forever is cut (visited set, 128 records at most), with a
 * warning. Sectors are taken as 512 bytes: an MBR on a disk with 4 KiB logical sectors
 * is rare (such disks are large enough to be partitioned with GPT), and reading one
 * wrongly would only produce warnings, never reads outside the disk.
 */
import { BinaryView } from '../binary.js';
import { corrupt, limitExceeded, type MountfsError } from '../errors.js';
import type { ByteSource } from '../sources/byte-source.js';
import { SliceByteSource } from '../sources/slice-source.js';
import { mbrTypeName } from './mbr-types.js';
import { markPartitionOverlaps } from './overlaps.js';
import type { Volume, VolumeLayout } from './types.js';

export const MBR_SECTOR = 512;
const TABLE_OFFSET = 446;
export const MAX_LOGICAL_PARTITIONS = 128;
const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);
export const PROTECTIVE_TYPE = 0xee;

export interface MbrEntry {
  bootFlag: number;
  type: number;
  firstLba: number;
  sectors: number;
}

/** True when the sector ends in the 0x55 0xAA boot signature. */
export function hasBootSignature(sector: Buffer): boolean {
  return sector.length >= MBR_SECTOR && sector[510] === 0x55 && sector[511] === 0xaa;
}

/** The four entries of a boot record found at absolute byte `offset`. */
export function mbrEntries(sector: Buffer, offset = 0): MbrEntry[] {
  const v = new BinaryView(sector, 'MBR partition table', offset);
  return [0, 1, 2, 3].map((i) => {
    const e = TABLE_OFFSET + i * 16;
    return { bootFlag: v.u8(e), type: v.u8(e + 4), firstLba: v.u32le(e + 8), sectors: v.u32le(e + 12) };
  });
}

/**
 * True when sector 0 holds a plausible partition table. FAT and NTFS boot sectors also
 * end in 0x55AA, but their bytes 446-509 are boot code or zeros: as entries they have
 * stray boot flags, zero sizes, overlaps or starts past the disk, or are all empty.
 */
export function looksLikeMbr(sector: Buffer, diskSectors: number): boolean {
  if (!hasBootSignature(sector)) return false;
  const entries = mbrEntries(sector);
  if (entries.some((e) => e.bootFlag !== 0 && e.bootFlag !== 0x80)) return false;
  const used = entries.filter((e) => e.type !== 0);
  if (used.length === 0) return false;
  if (used.some((e) => e.firstLba === 0 || e.sectors === 0)) return false;
  if (!used.some((e) => e.firstLba < diskSectors)) return false;
  const byStart = [...used].sort((a, b) => a.firstLba - b.firstLba);
  return byStart.every((e, i) => i === 0 || byStart[i - 1]!.firstLba + byStart[i - 1]!.sectors <= e.firstLba);
}

/** True when sector 0 has a 0xEE entry: a protective MBR (GPT behind it) or a hybrid one. */
export function hasProtectiveEntry(sector: Buffer): boolean {
  return hasBootSignature(sector) && mbrEntries(sector).some((e) => e.type === PROTECTIVE_TYPE);
}

/** Reads an MBR that looksLikeMbr accepted. 0xEE entries (GPT) are not volumes and are skipped. */
export async function readMbr(disk: ByteSource): Promise<VolumeLayout> {
  const diskSectors = Math.floor(disk.size / MBR_SECTOR);
  const volumes: Volume[] = [];
  const warnings: MountfsError[] = [];

  const add = (index: number, type: number, firstLba: number, sectors: number, limitLba: number, where: string, entryAt: number): void => {
    let end = firstLba + sectors;
    if (end > limitLba) {
      warnings.push(corrupt(ENTRY, `MBR partition ${index} (sectors ${firstLba}-${end - 1}) runs past the end of ${where}; only its first ${limitLba - firstLba} sectors are read`, entryAt));
      end = limitLba;
    }
    const start = firstLba * MBR_SECTOR;
    const size = (end - firstLba) * MBR_SECTOR;
    volumes.push({ index, scheme: 'mbr', type: mbrTypeName(type), start, size, source: new SliceByteSource(disk, start, size, `partition ${index} of ${disk.description}`) });
  };

  const boot = await disk.read(0, MBR_SECTOR);
  let nextLogical = 5;
  const primaries = mbrEntries(boot);
  for (let i = 0; i < 4; i++) {
    const e = primaries[i]!;
    const index = i + 1;
    const entryAt = entryOffset(0, i);
    if (e.type === 0 || e.type === PROTECTIVE_TYPE || e.sectors === 0) continue;
    if (e.firstLba === 0 || e.firstLba >= diskSectors) {
      warnings.push(corrupt(ENTRY, `MBR partition ${index} starts at sector ${e.firstLba}, outside the disk of ${diskSectors} sectors; skipped`, entryAt));
      continue;
    }
    if (!EXTENDED_TYPES.has(e.type)) {
      add(index, e.type, e.firstLba, e.sectors, diskSectors, 'the disk', entryAt);
      continue;
    }
    const extEnd = Math.min(diskSectors, e.firstLba + e.sectors);
    if (e.firstLba + e.sectors > diskSectors) warnings.push(corrupt(ENTRY, `extended partition ${index} runs past the end of the disk`, entryAt));
    nextLogical = await readLogicals(disk, { start: e.firstLba, end: extEnd, entryAt }, nextLogical, add, warnings);
  }
  warnings.push(...markPartitionOverlaps(volumes, 'MBR'));
  return { scheme: 'mbr', sectorSize: MBR_SECTOR, volumes, warnings };
}

type AddVolume = (index: number, type: number, firstLba: number, sectors: number, limitLba: number, where: string, entryAt: number) => void;

const ENTRY = 'MBR partition entry';
const EBR = 'extended boot record';

/** Byte offset of entry `i` of the boot record at byte `record`. */
function entryOffset(record: number, i: number): number {
  return record + TABLE_OFFSET + i * 16;
}

/**
 * Walks one extended partition's EBR chain; returns the next free logical number.
 * `ext.entryAt` is the byte offset of the entry naming the extended partition: a link
 * that goes wrong is reported at the entry that holds it.
 */
async function readLogicals(
  disk: ByteSource,
  ext: { start: number; end: number; entryAt: number },
  firstNumber: number,
  add: AddVolume,
  warnings: MountfsError[],
): Promise<number> {
  let next = firstNumber;
  const visited = new Set<number>();
  let ebr = ext.start;
  let linkAt = ext.entryAt;
  for (;;) {
    if (visited.has(ebr)) {
      warnings.push(corrupt(EBR, `the chain of extended boot records loops back to sector ${ebr}; it is cut there`, linkAt));
      break;
    }
    if (ebr < ext.start || ebr >= ext.end) {
      warnings.push(corrupt(EBR, `the chain of extended boot records leaves its extended partition (sector ${ebr}); it is cut there`, linkAt));
      break;
    }
    if (visited.size >= MAX_LOGICAL_PARTITIONS || next - firstNumber >= MAX_LOGICAL_PARTITIONS) {
      const message = `the extended partition at sector ${ext.start} holds more than ${MAX_LOGICAL_PARTITIONS} logical partitions (the cap); the chain is cut at the record at sector ${ebr}, and the rest are not read`;
      warnings.push(limitExceeded(EBR, message, ebr * MBR_SECTOR));
      break;
    }
    visited.add(ebr);
    const sector = await disk.read(ebr * MBR_SECTOR, MBR_SECTOR);
    if (!hasBootSignature(sector)) {
      warnings.push(corrupt(EBR, `the extended boot record at sector ${ebr} has no 0x55AA signature; the chain is cut there`, ebr * MBR_SECTOR + 510));
      break;
    }
    const entries = mbrEntries(sector, ebr * MBR_SECTOR);
    let linkIndex = -1;
    entries.forEach((e, i) => {
      if (linkIndex === -1 && EXTENDED_TYPES.has(e.type) && e.sectors > 0) linkIndex = i;
      if (e.type === 0 || e.sectors === 0 || EXTENDED_TYPES.has(e.type)) return;
      if (e.firstLba === 0 || ebr + e.firstLba >= ext.end) {
        warnings.push(corrupt(ENTRY, `logical partition ${next} in the record at sector ${ebr} starts outside its extended partition; skipped`, entryOffset(ebr * MBR_SECTOR, i)));
        return;
      }
      add(next, e.type, ebr + e.firstLba, e.sectors, ext.end, 'its extended partition', entryOffset(ebr * MBR_SECTOR, i));
      next++;
    });
    if (linkIndex === -1) break;
    linkAt = entryOffset(ebr * MBR_SECTOR, linkIndex);
    ebr = ext.start + entries[linkIndex]!.firstLba;
  }
  return next;
}
