/**
 * An LVM2 metadata area: a 512-byte header (checksum, the magic " LVM2 x[5A%r0N*>",
 * where the area lies) listing raw locations, the first of which is the committed VG
 * metadata text. The rest of the area is a circular buffer: a text that reaches the end
 * of the area continues right after the header. Layout from the LVM2 source,
 * lib/format_text/layout.h and format-text.c.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, limitExceeded } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import { lvmCrc, SECTOR, type DiskArea } from './label.js';

const MAGIC = ' LVM2 x[5A%r0N*>';
const RAW_LOCN_IGNORED = 1;
/** Real VG metadata is kilobytes; a few thousand volumes stay under a few MiB. */
export const MAX_METADATA_TEXT = 16 << 20;

export interface MetadataText {
  text: Buffer;
  checksum: number;
  /** Where the text starts on the PV, for messages. */
  offset: number;
}

/**
 * The committed metadata text of one area, or null when the area holds none (a PV not
 * in a VG) or is marked ignored. Throws corrupt/limit errors for a damaged area.
 */
export async function readMetadataArea(pv: ByteSource, area: DiskArea): Promise<MetadataText | null> {
  const structure = 'LVM metadata area header';
  if (area.offset + SECTOR > pv.size) throw corrupt(structure, `the area at ${area.offset} is past the end of the ${pv.size}-byte PV`, area.offset);
  const buf = await pv.read(area.offset, SECTOR);
  const v = new BinaryView(buf, structure, area.offset);
  if (v.bytes(4, 16).toString('latin1') !== MAGIC) throw corrupt(structure, 'no LVM2 metadata magic', area.offset + 4);
  const stored = v.u32le(0);
  const computed = lvmCrc(v.bytes(4, SECTOR - 4));
  if (stored !== computed) throw corrupt(structure, `CRC 0x${stored.toString(16)} does not match the contents (0x${computed.toString(16)})`, area.offset);
  const version = v.u32le(20);
  if (version !== 1) throw corrupt(structure, `version ${version} (only 1 exists)`, area.offset + 20);
  const start = v.u64le(24);
  const size = v.u64le(32);
  if (start !== area.offset) throw corrupt(structure, `says it starts at ${start}, but the PV header puts it at ${area.offset}`, area.offset + 24);
  if (size <= SECTOR || start + size > pv.size) throw corrupt(structure, `a ${size}-byte area at ${start} does not fit the ${pv.size}-byte PV`, area.offset + 32);

  const offset = v.u64le(40);
  const length = v.u64le(48);
  const checksum = v.u32le(56);
  const flags = v.u32le(60);
  if (offset === 0 || length === 0 || flags & RAW_LOCN_IGNORED) return null;
  const ring = size - SECTOR;
  if (offset < SECTOR || offset >= size) throw corrupt(structure, `metadata text offset ${offset} is outside the ${size}-byte area`, area.offset + 40);
  if (length > ring) throw corrupt(structure, `${length} bytes of metadata text do not fit the ${ring}-byte buffer`, area.offset + 48);
  if (length > MAX_METADATA_TEXT) throw limitExceeded(structure, `${length} bytes of metadata text (at most ${MAX_METADATA_TEXT} are read)`, area.offset + 48);

  // The text may wrap: its first part runs to the end of the area, the rest follows the header.
  const first = Math.min(length, size - offset);
  const parts = [await pv.read(start + offset, first)];
  if (first < length) parts.push(await pv.read(start + SECTOR, length - first));
  const text = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  if (text.length < length) throw corrupt('LVM metadata text', 'the PV ends inside the text', start + offset);
  const sum = lvmCrc(text);
  if (sum !== checksum) throw corrupt('LVM metadata text', `CRC 0x${sum.toString(16)} does not match the recorded 0x${checksum.toString(16)}`, start + offset);
  return { text, checksum, offset: start + offset };
}
