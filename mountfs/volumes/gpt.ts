/**
 * GUID Partition Table (UEFI 2.10, chapter 5.3): the primary header at LBA 1, checked by
 * signature, size and CRC32, and its entry array, checked by CRC32; when the primary is
 * damaged the backup header at the disk's last LBA is used instead, with a warning.
 * Sector sizes of 512 and 4096 bytes are both tried.
 */
import { BinaryView } from '../binary.js';
import { crc32 } from '../crc32.js';
import { corrupt } from '../errors.js';
import type { ByteSource } from '../sources/byte-source.js';
import { SliceByteSource } from '../sources/slice-source.js';
import type { Volume, VolumeLayout } from './types.js';

const SIGNATURE = 'EFI PART';
const MAX_ENTRIES = 16384;
const MAX_ARRAY_BYTES = 1 << 20;

/** Partition type GUIDs minescan names; others are listed by GUID. */
const TYPE_NAMES: Record<string, string> = {
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  '44479540-F297-41B2-9AF7-D131D5F0458A': 'Linux root (x86)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux root (ARM64)',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux /home',
  '3B8F8425-20E0-4F3B-907F-1A25A76F98E8': 'Linux /srv',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  '6A898CC3-1DD2-11B2-99A6-080020736631': 'Solaris /usr or ZFS',
};

interface Header {
  lba: number;
  alternateLba: number;
  firstUsable: number;
  lastUsable: number;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

/** The GPT of a disk, or null when neither header is valid at either sector size. */
export async function readGpt(disk: ByteSource): Promise<VolumeLayout | null> {
  for (const sectorSize of [512, 4096]) {
    const totalSectors = Math.floor(disk.size / sectorSize);
    if (totalSectors < 3) continue;
    const warnings: string[] = [];
    const primary = await readHeader(disk, 1, sectorSize).catch((err: Error) => err);
    if (!(primary instanceof Error)) {
      const volumes = await readEntries(disk, primary, sectorSize).catch((err: Error) => err);
      if (!(volumes instanceof Error)) return { scheme: 'gpt', sectorSize, volumes: volumes.volumes, warnings: volumes.warnings };
      warnings.push(`primary GPT entries are damaged (${volumes.message})`);
    } else if (!/no GPT signature/.test(primary.message)) {
      warnings.push(`primary GPT header is damaged (${primary.message})`);
    }
    const backupLba = !(primary instanceof Error) && primary.alternateLba < totalSectors ? primary.alternateLba : totalSectors - 1;
    const backup = await readHeader(disk, backupLba, sectorSize).catch((err: Error) => err);
    if (backup instanceof Error) continue;
    const volumes = await readEntries(disk, backup, sectorSize).catch((err: Error) => err);
    if (volumes instanceof Error) continue;
    warnings.push(primary instanceof Error && /no GPT signature/.test(primary.message) ? 'primary GPT header is missing; the backup header was used' : 'the backup GPT header was used');
    return { scheme: 'gpt', sectorSize, volumes: volumes.volumes, warnings: [...warnings, ...volumes.warnings] };
  }
  return null;
}

async function readHeader(disk: ByteSource, lba: number, sectorSize: number): Promise<Header> {
  const offset = lba * sectorSize;
  const buf = await disk.read(offset, sectorSize);
  const v = new BinaryView(buf, 'GPT header', offset);
  if (buf.length < 92 || buf.toString('latin1', 0, 8) !== SIGNATURE) throw corrupt('GPT header', 'no GPT signature', offset);
  const headerSize = v.u32le(12);
  if (headerSize < 92 || headerSize > sectorSize) throw corrupt('GPT header', `header size ${headerSize} is impossible`, offset + 12);
  const copy = Buffer.from(buf.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== v.u32le(16)) throw corrupt('GPT header', 'header CRC32 does not match', offset + 16);
  const h: Header = {
    lba: v.u64le(24),
    alternateLba: v.u64le(32),
    firstUsable: v.u64le(40),
    lastUsable: v.u64le(48),
    entriesLba: v.u64le(72),
    entryCount: v.u32le(80),
    entrySize: v.u32le(84),
    entriesCrc: v.u32le(88),
  };
  if (h.lba !== lba) throw corrupt('GPT header', `header says it is at LBA ${h.lba}, found at ${lba}`, offset + 24);
  if (h.entryCount > MAX_ENTRIES) throw corrupt('GPT header', `${h.entryCount} partition entries`, offset + 80);
  if (h.entrySize < 128 || h.entrySize % 128 !== 0 || h.entrySize > 4096) throw corrupt('GPT header', `partition entry size ${h.entrySize}`, offset + 84);
  if (h.entryCount * h.entrySize > MAX_ARRAY_BYTES) throw corrupt('GPT header', `a ${h.entryCount * h.entrySize}-byte entry array`, offset + 80);
  if ((h.entriesLba + Math.ceil((h.entryCount * h.entrySize) / sectorSize)) * sectorSize > disk.size) {
    throw corrupt('GPT header', 'the partition entry array lies past the end of the disk', offset + 72);
  }
  return h;
}

async function readEntries(disk: ByteSource, h: Header, sectorSize: number): Promise<{ volumes: Volume[]; warnings: string[] }> {
  const offset = h.entriesLba * sectorSize;
  const buf = await disk.read(offset, h.entryCount * h.entrySize);
  if (crc32(buf) !== h.entriesCrc) throw corrupt('GPT partition entries', 'entry array CRC32 does not match', offset);
  const volumes: Volume[] = [];
  const warnings: string[] = [];
  const totalSectors = Math.floor(disk.size / sectorSize);
  for (let i = 0; i < h.entryCount; i++) {
    const v = new BinaryView(buf, 'GPT partition entry', offset).slice(i * h.entrySize, h.entrySize);
    const type = guid(v.bytes(0, 16));
    if (type === '00000000-0000-0000-0000-000000000000') continue;
    const first = v.u64le(32);
    const last = v.u64le(40);
    if (first > last || last >= totalSectors) {
      warnings.push(`GPT partition ${i + 1} (sectors ${first}-${last}) lies outside the disk; skipped`);
      continue;
    }
    const name = v.bytes(56, Math.min(72, h.entrySize - 56)).toString('utf16le').replace(/\0.*$/s, '');
    const start = first * sectorSize;
    const size = (last - first + 1) * sectorSize;
    volumes.push({
      index: i + 1,
      scheme: 'gpt',
      type: TYPE_NAMES[type] ?? type,
      start,
      size,
      ...(name ? { name } : {}),
      source: new SliceByteSource(disk, start, size, `partition ${i + 1} of ${disk.description}`),
    });
  }
  return { volumes, warnings };
}

/** Mixed-endian GUID text, as the UEFI spec writes GUIDs. */
function guid(b: Buffer): string {
  const hex = (x: Buffer) => x.toString('hex');
  const le = (x: Buffer) => hex(Buffer.from(x).reverse());
  return `${le(b.subarray(0, 4))}-${le(b.subarray(4, 6))}-${le(b.subarray(6, 8))}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`.toUpperCase();
}
