/**
 * GUID Partition Table, as the UEFI specification (2.10, section 5.3) lays it out: the
 * primary header at LBA 1 and its partition entry array, and a backup header (usually
 * at the disk's last LBA) with its own array. A header is trusted only when its
 * signature, size, CRC32, own-LBA field and entry-array CRC32 all check out. When the
 * primary is damaged the backup is used and the report says so; when the primary is
 * good the backup is still checked, because a missing or different backup tells of a
 * truncated image or a table someone rewrote.
 *
 * The sector size is not written anywhere in the table, so 512 and then 4096 are
 * tried (the header then sits at byte 512 or 4096).
 */
import { BinaryView } from '../binary.js';
import { crc32 } from '../crc32.js';
import { corrupt, limitExceeded, MountfsError, within } from '../errors.js';
import type { ByteSource } from '../sources/byte-source.js';
import { SliceByteSource } from '../sources/slice-source.js';
import { gptTypeName } from './gpt-types.js';
import { markPartitionOverlaps } from './overlaps.js';
import type { Volume, VolumeLayout } from './types.js';

export const GPT_SECTOR_SIZES = [512, 4096] as const;
const SIGNATURE = 'EFI PART';
const MIN_HEADER_SIZE = 92;
export const MAX_GPT_ENTRIES = 16384;
const MAX_ENTRY_SIZE = 4096;
const ENTRY_ARRAY = 'GPT partition entry array';
/** 128 entries of 128 bytes is the norm (16 KiB); this allows 16384 of them. */
const MAX_ENTRY_ARRAY_BYTES = MAX_GPT_ENTRIES * 128;

export interface GptHeader {
  lba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

export interface GptResult {
  /** The table, or null when no valid header was found at either sector size. */
  layout: VolumeLayout | null;
  /** The table was read from a backup header although LBA 1 holds no GPT signature at all. */
  backupOnly: boolean;
  /** With no layout: the damaged headers that were seen (empty when there is no GPT trace). */
  warnings: MountfsError[];
}

/** One header and its entries, or why they could not be used. */
type TableRead =
  | { kind: 'absent' }
  | { kind: 'damaged'; error: MountfsError; header?: GptHeader }
  | { kind: 'ok'; header: GptHeader; volumes: Volume[]; warnings: MountfsError[] };

export async function readGpt(disk: ByteSource): Promise<GptResult> {
  const seen: MountfsError[] = [];
  for (const sectorSize of GPT_SECTOR_SIZES) {
    const result = await readAtSectorSize(disk, sectorSize);
    if (result.layout) return result;
    seen.push(...result.warnings);
  }
  return { layout: null, backupOnly: false, warnings: seen };
}

async function readAtSectorSize(disk: ByteSource, sectorSize: number): Promise<GptResult> {
  const totalSectors = Math.floor(disk.size / sectorSize);
  // LBA 0 (MBR), LBA 1 (header) and at least one sector of entries.
  if (totalSectors < 3) return { layout: null, backupOnly: false, warnings: [] };
  const layout = (volumes: Volume[], warnings: MountfsError[], notes: string[]): VolumeLayout => ({ scheme: 'gpt', sectorSize, volumes, warnings, notes });

  // Whichever copy of the table is used, the other one's state is a note: the partitions were all listed.
  const primary = await readTable(disk, 1, sectorSize, totalSectors);
  if (primary.kind === 'ok') {
    return { layout: layout(primary.volumes, primary.warnings, await checkBackup(disk, primary.header, sectorSize, totalSectors)), backupOnly: false, warnings: [] };
  }

  // The damage seen: the scan's errors when no copy can be used, notes when one can.
  const damage: MountfsError[] = [];
  if (primary.kind === 'damaged') damage.push(within(`primary GPT at LBA 1 (${sectorSize}-byte sectors) is damaged`, primary.error));
  // A primary header that is itself sound (only its entries are bad) says where its backup is.
  const candidates = new Set<number>();
  if (primary.kind === 'damaged' && primary.header && primary.header.alternateLba > 1 && primary.header.alternateLba < totalSectors) {
    candidates.add(primary.header.alternateLba);
  }
  candidates.add(totalSectors - 1);
  for (const lba of candidates) {
    const backup = await readTable(disk, lba, sectorSize, totalSectors);
    if (backup.kind === 'ok') {
      const used =
        primary.kind === 'absent'
          ? `no GPT header at LBA 1 (${sectorSize}-byte sectors): the backup GPT header at LBA ${lba} was used`
          : `the backup GPT header at LBA ${lba} was used instead`;
      const notes = [...damage.map((d) => d.message), used];
      return { layout: layout(backup.volumes, backup.warnings, notes), backupOnly: primary.kind === 'absent', warnings: [] };
    }
    if (backup.kind === 'damaged') damage.push(within(`backup GPT at LBA ${lba} is damaged too`, backup.error));
  }
  return { layout: null, backupOnly: false, warnings: damage };
}

/** Warnings about the backup of a good primary: missing past a truncated end, damaged, or different. */
async function checkBackup(disk: ByteSource, primary: GptHeader, sectorSize: number, totalSectors: number): Promise<string[]> {
  const lba = primary.alternateLba;
  if (lba >= totalSectors) {
    return [`the backup GPT header belongs at LBA ${lba} but the disk has ${totalSectors} sectors: the image looks truncated`];
  }
  if (lba <= 1) return [`the primary GPT header gives an impossible backup location (LBA ${lba})`];
  let backup: TableRead;
  try {
    backup = await readTable(disk, lba, sectorSize, totalSectors);
  } catch (err) {
    // The backup only confirms a good primary: a medium that fails there (a cloud block
    // refused for good) costs the check, not the partitions.
    if (err instanceof MountfsError && err.kind === 'io') return [`the backup GPT at LBA ${lba} cannot be read: ${err.message}`];
    throw err;
  }
  if (backup.kind === 'absent') return [`no backup GPT header at LBA ${lba}`];
  if (backup.kind === 'damaged') return [within(`the backup GPT at LBA ${lba} is damaged`, backup.error).message];
  if (backup.header.entriesCrc !== primary.entriesCrc || backup.header.entryCount !== primary.entryCount) {
    return [`the backup GPT at LBA ${lba} lists different partitions from the primary; the primary was used`];
  }
  return [];
}

async function readTable(disk: ByteSource, lba: number, sectorSize: number, totalSectors: number): Promise<TableRead> {
  const offset = lba * sectorSize;
  const sector = await disk.read(offset, sectorSize);
  if (sector.length < MIN_HEADER_SIZE || sector.toString('latin1', 0, 8) !== SIGNATURE) return { kind: 'absent' };
  let header: GptHeader;
  try {
    header = parseHeader(new BinaryView(sector, 'GPT header', offset), lba, sectorSize, totalSectors);
  } catch (err) {
    if (err instanceof MountfsError) return { kind: 'damaged', error: err };
    throw err;
  }
  const arrayOffset = header.entriesLba * sectorSize;
  // A header that lists more entries than the cap is still a GPT: its first entries are
  // read, and the report says which cap was hit, where (the CRC32 covers the whole
  // array, so it cannot be checked without reading past the cap).
  const readCount = Math.min(header.entryCount, MAX_GPT_ENTRIES, Math.floor(MAX_ENTRY_ARRAY_BYTES / header.entrySize));
  const capped = readCount < header.entryCount;
  const array = await disk.read(arrayOffset, readCount * header.entrySize);
  if (array.length < readCount * header.entrySize) {
    return { kind: 'damaged', error: corrupt(ENTRY_ARRAY, 'the partition entry array runs past the end of the disk', arrayOffset), header };
  }
  if (!capped && crc32(array) !== header.entriesCrc) {
    return { kind: 'damaged', error: corrupt(ENTRY_ARRAY, `the partition entry array at byte ${arrayOffset} fails its CRC32`, arrayOffset), header };
  }
  const { volumes, warnings } = parseEntries(disk, new BinaryView(array, ENTRY_ARRAY, arrayOffset), { ...header, entryCount: readCount }, sectorSize, totalSectors);
  if (capped) {
    const cap = limitExceeded(
      'GPT header',
      `${header.entryCount} partition entries of ${header.entrySize} bytes: only the first ${readCount} are read (at most ${MAX_GPT_ENTRIES} entries, ${MAX_ENTRY_ARRAY_BYTES} bytes) and the entry array's CRC32 is not checked`,
      offset + 80,
    );
    warnings.unshift(cap);
  }
  return { kind: 'ok', header, volumes, warnings };
}

/** Validates a header whose signature matched; throws a corrupt/limit error saying what is wrong. */
function parseHeader(v: BinaryView, lba: number, sectorSize: number, totalSectors: number): GptHeader {
  const headerSize = v.u32le(12);
  if (headerSize < MIN_HEADER_SIZE || headerSize > sectorSize) {
    throw corrupt('GPT header', `header size ${headerSize} is not between ${MIN_HEADER_SIZE} and the ${sectorSize}-byte sector`, v.baseOffset + 12);
  }
  // The CRC covers the header with its own CRC field taken as zero.
  const copy = Buffer.from(v.bytes(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== v.u32le(16)) throw corrupt('GPT header', 'header CRC32 does not match', v.baseOffset + 16);
  const h: GptHeader = {
    lba: v.u64le(24),
    alternateLba: v.u64le(32),
    firstUsableLba: v.u64le(40),
    lastUsableLba: v.u64le(48),
    entriesLba: v.u64le(72),
    entryCount: v.u32le(80),
    entrySize: v.u32le(84),
    entriesCrc: v.u32le(88),
  };
  if (h.lba !== lba) throw corrupt('GPT header', `header says it lies at LBA ${h.lba} but was found at LBA ${lba}`, v.baseOffset + 24);
  if (h.entryCount === 0) throw corrupt('GPT header', 'no partition entries', v.baseOffset + 80);
  if (h.entrySize < 128 || h.entrySize % 128 !== 0 || h.entrySize > MAX_ENTRY_SIZE) {
    throw corrupt('GPT header', `partition entry size ${h.entrySize} is not a multiple of 128 up to ${MAX_ENTRY_SIZE}`, v.baseOffset + 84);
  }
  const arraySectors = Math.ceil((h.entryCount * h.entrySize) / sectorSize);
  if (h.entriesLba < 2 || h.entriesLba + arraySectors > totalSectors) {
    throw corrupt('GPT header', `the array of ${h.entryCount} partition entries (LBA ${h.entriesLba}, ${arraySectors} sectors) is not inside the disk`, v.baseOffset + 72);
  }
  if (h.entriesLba <= lba && lba < h.entriesLba + arraySectors) {
    throw corrupt('GPT header', 'the partition entry array overlaps its own header', v.baseOffset + 72);
  }
  if (h.firstUsableLba > h.lastUsableLba + 1) {
    throw corrupt('GPT header', `first usable LBA ${h.firstUsableLba} is after last usable LBA ${h.lastUsableLba}`, v.baseOffset + 40);
  }
  return h;
}

function parseEntries(
  disk: ByteSource,
  array: BinaryView,
  h: GptHeader,
  sectorSize: number,
  totalSectors: number,
): { volumes: Volume[]; warnings: MountfsError[] } {
  const volumes: Volume[] = [];
  const warnings: MountfsError[] = [];
  // A primary whose backup belongs past the end was written on a larger disk: the image was cut.
  const truncated = h.lba === 1 && h.alternateLba >= totalSectors;
  for (let i = 0; i < h.entryCount; i++) {
    const index = i + 1;
    const e = array.slice(i * h.entrySize, h.entrySize, `GPT partition entry ${index}`);
    const typeBytes = e.bytes(0, 16);
    if (typeBytes.every((b) => b === 0)) continue;
    let first: number;
    let last: number;
    try {
      first = e.u64le(32);
      last = e.u64le(40);
    } catch (err) {
      if (!(err instanceof MountfsError)) throw err;
      warnings.push(within(`GPT partition ${index}`, err, 'skipped'));
      continue;
    }
    const entry = `GPT partition entry ${index}`;
    if (first > last) {
      warnings.push(corrupt(entry, `GPT partition ${index} ends (LBA ${last}) before it starts (LBA ${first}); skipped`, e.baseOffset + 32));
      continue;
    }
    if (first < 2 || first >= totalSectors || (last >= totalSectors && !truncated)) {
      warnings.push(corrupt(entry, `GPT partition ${index} (LBA ${first}-${last}) lies outside the disk of ${totalSectors} sectors; skipped`, e.baseOffset + 32));
      continue;
    }
    const notes: string[] = [];
    if (last >= totalSectors) {
      warnings.push(corrupt(entry, `GPT partition ${index} (LBA ${first}-${last}) runs past the end of the truncated image; only its first ${totalSectors - first} sectors are read`, e.baseOffset + 40));
    } else if (first < h.firstUsableLba || last > h.lastUsableLba) {
      // Odd, but every sector of it is read: a note, not missed data.
      notes.push(`lies outside the usable LBAs ${h.firstUsableLba}-${h.lastUsableLba} of the GPT header`);
    }
    const start = first * sectorSize;
    const size = (Math.min(last, totalSectors - 1) - first + 1) * sectorSize;
    const name = e.bytes(56, Math.min(72, h.entrySize - 56)).toString('utf16le');
    const nul = name.indexOf('\0');
    const trimmed = nul === -1 ? name : name.slice(0, nul);
    volumes.push({
      index,
      scheme: 'gpt',
      type: gptTypeName(formatGuid(typeBytes)),
      start,
      size,
      ...(trimmed ? { name: trimmed } : {}),
      source: new SliceByteSource(disk, start, size, `partition ${index} of ${disk.description}`),
      ...(notes.length ? { notes } : {}),
    });
  }
  warnings.push(...markPartitionOverlaps(volumes, 'GPT'));
  return { volumes, warnings };
}

/** The text form of an on-disk GUID: the first three fields are little-endian. */
export function formatGuid(b: Buffer): string {
  const le = (x: Buffer) => Buffer.from(x).reverse().toString('hex');
  const be = (x: Buffer) => x.toString('hex');
  return `${le(b.subarray(0, 4))}-${le(b.subarray(4, 6))}-${le(b.subarray(6, 8))}-${be(b.subarray(8, 10))}-${be(b.subarray(10, 16))}`.toUpperCase();
}
