/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which MS-VHDX uses for its
 * headers, region tables and log entries and ext4 for its metadata_csum checksums.
 * Node has no CRC-32C, so the table is built here; the checksummed structures are at
 * most 64 KiB, so a byte-wise table suffices.
 */
import { reflectedCrcTable } from './crc32.js';

const TABLE = reflectedCrcTable(0x82f63b78);

export function crc32c(buf: Buffer): number {
  return (crc32cUpdate(0xffffffff, buf) ^ 0xffffffff) >>> 0;
}

/**
 * The CRC-32C steps alone, from any seed and without the final XOR: ext4 chains its
 * checksums this way (a seed from the UUID, then the inode number, then the record).
 */
export function crc32cUpdate(seed: number, buf: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** CRC-32C of a structure whose 4-byte checksum field at `at` counts as zero. */
export function crc32cWithZeroedField(buf: Buffer, at: number): number {
  const copy = Buffer.from(buf);
  copy.fill(0, at, at + 4);
  return crc32c(copy);
}
