/**
 * Inline data (INCOMPAT_INLINE_DATA, inode flag EXT4_INLINE_DATA_FL): small files,
 * directories and symlinks stored inside the inode instead of in blocks.
 * Documentation/filesystems/ext4/inlinedata.rst and the in-inode extended attribute
 * format of attributes.rst.
 *
 * The first 60 bytes live in i_block; the rest is the value of the "system.data"
 * extended attribute in the inode body, after 128 + i_extra_isize: a 4-byte magic
 * 0xEA020000, then entries (name length, name index 7 = "system.", value offset
 * relative to the first entry, value size, name), 4-byte aligned, ended by a zero
 * word. The kernel only ever keeps system.data in the inode body, never in an external
 * attribute block. Inline directories use i_block's first 4 bytes for the parent's
 * inode number (the implicit ".."); entries follow in the other 56 bytes and continue
 * in system.data.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';
import { I_BLOCK_SIZE, type Inode } from './inode.js';

const IBODY_MAGIC = 0xea020000;
const ENTRY_HEADER = 16;
const SYSTEM_INDEX = 7;
const STRUCT = 'ext4 in-inode extended attributes';

/** The system.data value, or undefined when the inode body has none. */
export function systemDataValue(inode: Inode): BinaryView | undefined {
  const raw = inode.raw;
  const start = inode.xattrStart;
  if (start + 4 > raw.length || raw.u32le(start) !== IBODY_MAGIC) return undefined;
  const first = start + 4;
  for (let e = first; e + 4 <= raw.length && raw.u32le(e) !== 0; ) {
    if (e + ENTRY_HEADER > raw.length) throw corrupt(STRUCT, `inode ${inode.ino}: entry header runs past the inode`, raw.baseOffset + e);
    const nameLen = raw.u8(e);
    const nameIndex = raw.u8(e + 1);
    if (e + ENTRY_HEADER + nameLen > raw.length) throw corrupt(STRUCT, `inode ${inode.ino}: attribute name runs past the inode`, raw.baseOffset + e);
    if (nameIndex === SYSTEM_INDEX && raw.bytes(e + ENTRY_HEADER, nameLen).toString('latin1') === 'data') {
      if (raw.u32le(e + 4) !== 0) {
        throw unsupported(STRUCT, `inode ${inode.ino}: inline data kept in a separate EA inode`, raw.baseOffset + e + 4);
      }
      const valueStart = first + raw.u16le(e + 2);
      const valueSize = raw.u32le(e + 8);
      if (valueStart + valueSize > raw.length) {
        throw corrupt(STRUCT, `inode ${inode.ino}: system.data value (${valueSize} bytes at +${valueStart}) runs past the inode`, raw.baseOffset + e + 2);
      }
      return raw.slice(valueStart, valueSize, 'ext4 inline data');
    }
    e += (ENTRY_HEADER + nameLen + 3) & ~3;
  }
  return undefined;
}

/** Bytes [offset, end) of an inline file or symlink. */
export function readInline(inode: Inode, offset: number, end: number): Buffer {
  const extra = systemDataValue(inode);
  const stored = I_BLOCK_SIZE + (extra?.length ?? 0);
  if (inode.size > stored) {
    throw corrupt('ext4 inline data', `inode ${inode.ino}: size ${inode.size} is more than the ${stored} bytes stored inline`, inode.offset);
  }
  const all = extra ? Buffer.concat([inode.iBlock.buf, extra.buf]) : inode.iBlock.buf;
  return Buffer.from(all.subarray(offset, end));
}

/** The regions of an inline directory that hold entries: i_block after the parent number, then system.data. */
export function inlineDirectoryRegions(inode: Inode): BinaryView[] {
  const regions = [inode.iBlock.slice(4, I_BLOCK_SIZE - 4, 'ext4 inline directory')];
  const extra = systemDataValue(inode);
  if (extra && extra.length > 0) regions.push(extra);
  return regions;
}
