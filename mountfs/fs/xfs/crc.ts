/**
 * XFS v5 metadata CRCs (xfs_cksum.h): CRC-32C seeded with ~0 over the whole block with
 * its own checksum field counted as zero, inverted, stored little-endian. A block that
 * fails is damaged or edited, and is not read as if it were true.
 */
import { corrupt } from '../../errors.js';
import { crc32cUpdate } from '../../crc32c.js';

const ZERO32 = Buffer.alloc(4);

/** The checksum a block should carry in its field at `field`. */
export function xfsBlockCrc(block: Buffer, field: number): number {
  let c = crc32cUpdate(0xffffffff, block.subarray(0, field));
  c = crc32cUpdate(c, ZERO32);
  c = crc32cUpdate(c, block.subarray(field + 4));
  return ~c >>> 0;
}

/** Throws a `corrupt` error naming `structure` and the field's byte offset when the block's CRC fails. */
export function verifyXfsCrc(block: Buffer, field: number, structure: string, offset: number): void {
  const stored = block.readUInt32LE(field);
  const computed = xfsBlockCrc(block, field);
  if (stored !== computed) {
    throw corrupt(structure, `CRC 0x${stored.toString(16)} does not match the 0x${computed.toString(16)} computed over the block (damaged or edited)`, offset + field);
  }
}
