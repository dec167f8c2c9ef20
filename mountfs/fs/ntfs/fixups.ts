/**
 * The update sequence array ("fixups") of multi-sector NTFS records (FILE records of
 * the $MFT, INDX records of directory indexes). Before writing, NTFS replaces the last
 * two bytes of every 512-byte stride with the update sequence number and keeps the
 * real bytes in the array; a stride whose last two bytes differ from the number was
 * torn (or tampered with), so the record is refused rather than read half-old.
 *
 * Layout: NTFS_RECORD and the "Fixup" section of the Linux-NTFS documentation; the
 * stride is always 512 bytes (NTFS_BLOCK_SIZE), whatever the sector size.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';

const STRIDE = 512;

/**
 * A copy of `raw` with its fixups applied. `structure` and `offset` name the record in
 * errors (a mismatch is a corrupt error at the stride's end).
 */
export function applyFixups(raw: Buffer, structure: string, offset: number): Buffer {
  const buf = Buffer.from(raw);
  const v = new BinaryView(buf, structure, offset);
  const usaOffset = v.u16le(4);
  const usaCount = v.u16le(6);
  const strides = buf.length / STRIDE;
  if (usaCount !== strides + 1) throw corrupt(structure, `update sequence array has ${usaCount} entries, the record needs ${strides + 1}`, offset + 6);
  if (usaOffset < 8 || (usaOffset & 1) !== 0 || usaOffset + usaCount * 2 > STRIDE - 2) {
    throw corrupt(structure, `update sequence array at +${usaOffset} does not fit the first 512 bytes`, offset + 4);
  }
  const usn = v.u16le(usaOffset);
  for (let i = 0; i < strides; i++) {
    const at = (i + 1) * STRIDE - 2;
    if (v.u16le(at) !== usn) {
      throw corrupt(structure, `fixup mismatch in sector ${i}: 0x${v.u16le(at).toString(16)} where the update sequence number is 0x${usn.toString(16)} (torn or damaged record)`, offset + at);
    }
    buf.writeUInt16LE(v.u16le(usaOffset + 2 + i * 2), at);
  }
  return buf;
}
