/**
 * The LVM2 physical volume label: a 512-byte sector among the first four of the device
 * that starts "LABELONE", is CRC-protected, and is followed (type "LVM2 001") by the PV
 * header: the PV's UUID, its size, its data area (where extents start) and its metadata
 * areas. Layout from the LVM2 source, lib/label/label.h and lib/format_text/layout.h;
 * the CRC is LVM's calc_crc (reflected CRC-32 polynomial, its own seed, no final XOR).
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import { crc32Update } from '../../crc32.js';

export const SECTOR = 512;
const LABEL_SCAN_SECTORS = 4;
const LVM_CRC_SEED = 0xf597a6cf;
/** Entries per area list: a 512-byte sector cannot hold more than about twenty. */
const MAX_AREAS = 16;

/** LVM's checksum; `seed` lets a ring-buffered text be summed in two pieces. */
export function lvmCrc(buf: Buffer, seed = LVM_CRC_SEED): number {
  return crc32Update(seed, buf);
}

export interface DiskArea {
  /** Byte offset on the PV. */
  offset: number;
  /** Bytes; 0 for a data area means "to the end of the device". */
  size: number;
}

export interface PvLabel {
  /** The 32-character PV UUID without dashes, as the label stores it. */
  uuid: string;
  /** Sector of the label. */
  sector: number;
  deviceSize: number;
  dataAreas: DiskArea[];
  metadataAreas: DiskArea[];
}

/** "LABELONE" at the start of one of the first four sectors: the cheap test for an LVM PV. */
export async function hasLvmLabel(source: ByteSource): Promise<boolean> {
  const head = await source.read(0, LABEL_SCAN_SECTORS * SECTOR);
  for (let s = 0; s < LABEL_SCAN_SECTORS; s++) {
    if (head.length >= (s + 1) * SECTOR && head.toString('latin1', s * SECTOR, s * SECTOR + 8) === 'LABELONE') return true;
  }
  return false;
}

/**
 * Finds and parses the label. Returns null when there is no "LABELONE" sector; throws
 * a corrupt error when one is there but damaged.
 */
export async function readPvLabel(source: ByteSource): Promise<PvLabel | null> {
  const head = await source.read(0, LABEL_SCAN_SECTORS * SECTOR);
  for (let s = 0; s < LABEL_SCAN_SECTORS; s++) {
    if (head.length < (s + 1) * SECTOR) break;
    const sector = head.subarray(s * SECTOR, (s + 1) * SECTOR);
    if (sector.toString('latin1', 0, 8) !== 'LABELONE') continue;
    return parseLabelSector(sector, s);
  }
  return null;
}

export function parseLabelSector(sector: Buffer, index: number): PvLabel {
  const at = index * SECTOR;
  const structure = 'LVM label';
  const v = new BinaryView(sector, structure, at);
  const recorded = v.u64le(8);
  if (recorded !== index) throw corrupt(structure, `found in sector ${index} but records sector ${recorded}`, at + 8);
  const stored = v.u32le(16);
  const computed = lvmCrc(v.bytes(20, SECTOR - 20));
  if (stored !== computed) throw corrupt(structure, `CRC 0x${stored.toString(16)} does not match the contents (0x${computed.toString(16)})`, at + 16);
  const type = v.bytes(24, 8).toString('latin1');
  if (type !== 'LVM2 001') throw corrupt(structure, `label type ${JSON.stringify(type)} is not "LVM2 001"`, at + 24);
  const headerAt = v.u32le(20);
  if (headerAt < 32 || headerAt > SECTOR - 40) throw corrupt(structure, `PV header offset ${headerAt} is outside the label sector`, at + 20);

  const pv = v.slice(headerAt, SECTOR - headerAt, 'LVM PV header');
  const uuid = pv.bytes(0, 32).toString('latin1');
  if (!/^[A-Za-z0-9!#]{32}$/.test(uuid)) throw corrupt('LVM PV header', 'the PV UUID is not 32 UUID characters', pv.baseOffset);
  const deviceSize = pv.u64le(32);
  let pos = 40;
  const readList = (what: string): DiskArea[] => {
    const list: DiskArea[] = [];
    for (;;) {
      const offset = pv.u64le(pos);
      const size = pv.u64le(pos + 8);
      pos += 16;
      if (offset === 0) return list;
      if (list.length >= MAX_AREAS) throw corrupt('LVM PV header', `more than ${MAX_AREAS} ${what} areas`, pv.baseOffset + pos);
      list.push({ offset, size });
    }
  };
  const dataAreas = readList('data');
  const metadataAreas = readList('metadata');
  return { uuid, sector: index, deviceSize, dataAreas, metadataAreas };
}

/** The UUID as LVM's text metadata writes it: 6-4-4-4-4-4-6 characters. */
export function formatPvUuid(uuid: string): string {
  const parts = [6, 4, 4, 4, 4, 4, 6];
  const out: string[] = [];
  let at = 0;
  for (const n of parts) {
    out.push(uuid.slice(at, at + n));
    at += n;
  }
  return out.join('-');
}
