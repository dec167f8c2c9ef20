/**
 * The VHD dynamic disk header ("cxsparse"), 1024 big-endian bytes that dynamic and
 * differencing disks point to from their footer: where the block allocation table
 * lies, how many entries it has, the block size, and for differencing disks who the
 * parent is. Follows Microsoft's VHD specification 1.0, "Dynamic Disk Header Format"
 * and "Parent Locator" entries.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { vhdChecksum } from './footer.js';

export const DYNAMIC_HEADER_SIZE = 1024;
const COOKIE = 'cxsparse';
/** Blocks larger than this are not made by any known tool, and would make single reads huge. */
const MAX_BLOCK_SIZE = 256 << 20;

export interface ParentLocator {
  /** "W2ku" (absolute Windows path), "W2ru" (relative), "MacX" (file URL), ... */
  platform: string;
  dataLength: number;
  dataOffset: number;
}

export interface DynamicHeader {
  /** Absolute offset of the block allocation table. */
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
  /** Bytes of the per-block sector bitmap that precedes each block's data (whole sectors). */
  bitmapSize: number;
  parentUniqueId: Buffer;
  /** The parent's file name as the child recorded it (UTF-16BE in the header). */
  parentName: string;
  locators: ParentLocator[];
}

export function parseDynamicHeader(buf: Buffer, offset: number, fileSize: number): DynamicHeader {
  const structure = 'VHD dynamic header';
  const v = new BinaryView(buf, structure, offset);
  if (v.bytes(0, 8).toString('latin1') !== COOKIE) throw corrupt(structure, 'no "cxsparse" cookie', offset);
  const stored = v.u32be(36);
  const computed = vhdChecksum(v.bytes(0, DYNAMIC_HEADER_SIZE), 36);
  if (stored !== computed) {
    throw corrupt(structure, `checksum 0x${stored.toString(16)} does not match the contents (0x${computed.toString(16)})`, offset + 36);
  }
  const tableOffset = v.u64be(16);
  const maxTableEntries = v.u32be(28);
  const blockSize = v.u32be(32);
  if (blockSize < 512 || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw corrupt(structure, `block size ${blockSize} is not a power of two between 512 bytes and 256 MiB`, offset + 32);
  }
  if (tableOffset + maxTableEntries * 4 > fileSize) {
    throw corrupt(structure, `the ${maxTableEntries}-entry block table at ${tableOffset} runs past the end of the ${fileSize}-byte file`, offset + 16);
  }
  const sectorsPerBlock = blockSize / 512;
  const bitmapSize = Math.ceil(sectorsPerBlock / 8 / 512) * 512;
  const nameBytes = Buffer.from(v.bytes(64, 512));
  nameBytes.swap16(); // UTF-16BE on disk; Node decodes UTF-16LE
  const nul = nameBytes.toString('utf16le').indexOf('\0');
  const parentName = nameBytes.toString('utf16le').slice(0, nul === -1 ? undefined : nul);
  const locators: ParentLocator[] = [];
  for (let i = 0; i < 8; i++) {
    const e = v.slice(576 + i * 24, 24, 'VHD parent locator');
    const code = e.u32be(0);
    if (code === 0) continue;
    locators.push({ platform: e.bytes(0, 4).toString('latin1'), dataLength: e.u32be(8), dataOffset: e.u64be(16) });
  }
  return { tableOffset, maxTableEntries, blockSize, bitmapSize, parentUniqueId: Buffer.from(v.bytes(40, 16)), parentName, locators };
}

/** Largest parent locator text minescan reads: a path, not a payload. */
export const MAX_LOCATOR_BYTES = 64 * 1024;

/** Decodes a parent locator's bytes into a path or URL, by platform code. */
export function decodeLocator(platform: string, data: Buffer): string | null {
  let text: string;
  if (platform === 'W2ku' || platform === 'W2ru') text = data.toString('utf16le');
  else if (platform === 'MacX') text = data.toString('utf8');
  else if (platform === 'Wi2k' || platform === 'Wi2r') text = data.toString('latin1');
  else return null; // "Mac " holds a Mac OS alias blob: no file name to take
  const nul = text.indexOf('\0');
  return nul === -1 ? text : text.slice(0, nul);
}
