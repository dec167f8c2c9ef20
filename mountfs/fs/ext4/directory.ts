/**
 * Linear directory entries (struct ext4_dir_entry / ext4_dir_entry_2), the only
 * directory format this reader needs: Documentation/filesystems/ext4/directory.rst.
 *
 * Hash-tree (htree/dx) directories are read linearly too. Their interior blocks
 * are built to be skipped by a linear reader: the dx_root block is the "." entry
 * followed by a ".." entry whose rec_len covers the rest of the block (the dx_root_info
 * and index entries live inside it), and each dx_node block begins with a fake entry of
 * inode 0 whose rec_len spans the whole block. The metadata_csum tail of leaf blocks
 * is likewise an entry with inode 0. So "skip inode 0, follow rec_len" reads all of
 * them; nothing here depends on the hash, which is why casefolded directories read too.
 *
 * With the filetype feature the name length is one byte followed by a file type byte;
 * without it the name length is 16 bits. Every rec_len is checked (>= 8, a multiple of
 * 4, inside the block) before it is followed, so a damaged block cannot loop or run
 * past its end.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { DIR_ENTRY_FILE_TYPES, type RawDirEntry } from '../types.js';

const STRUCT = 'ext4 directory entry';
const HEADER = 8;

export interface DirentFormat {
  /** INCOMPAT_FILETYPE: byte 7 is the file type rather than the name length's high byte. */
  fileType: boolean;
  blockSize: number;
  inodesCount: number;
}

/**
 * rec_len on disk: block sizes of 64 KiB cannot store 65536 in 16 bits, so there 0 and
 * 65535 mean "the whole block" and the two low bits carry bits 16-17.
 */
function recordLength(raw: number, blockSize: number): number {
  if (blockSize < 65536) return raw;
  if (raw === 65535 || raw === 0) return blockSize;
  return (raw & 0xfffc) | ((raw & 3) << 16);
}

/** Appends the live entries of one directory block (or inline region), "." and ".." left out. */
export function parseDirents(v: BinaryView, format: DirentFormat, out: RawDirEntry[]): void {
  let pos = 0;
  while (pos < v.length) {
    const at = v.baseOffset + pos;
    if (v.length - pos < HEADER) {
      throw corrupt(STRUCT, `${v.length - pos} bytes left at the end of the block, too few for an entry`, at);
    }
    const inode = v.u32le(pos);
    const recLen = recordLength(v.u16le(pos + 4), format.blockSize);
    if (recLen < HEADER || recLen % 4 !== 0 || pos + recLen > v.length) {
      throw corrupt(STRUCT, `record length ${recLen} is below 8, unaligned or runs past the ${v.length}-byte block`, at + 4);
    }
    if (inode !== 0) {
      const nameLen = format.fileType ? v.u8(pos + 6) : v.u16le(pos + 6);
      if (nameLen === 0 || nameLen > recLen - HEADER) {
        throw corrupt(STRUCT, `name length ${nameLen} does not fit the ${recLen}-byte record`, at + 6);
      }
      if (inode > format.inodesCount) {
        throw corrupt(STRUCT, `inode number ${inode} is past the filesystem's ${format.inodesCount} inodes`, at);
      }
      const nameBytes = v.bytes(pos + HEADER, nameLen);
      const isDot = (nameLen === 1 && nameBytes[0] === 0x2e) || (nameLen === 2 && nameBytes[0] === 0x2e && nameBytes[1] === 0x2e);
      if (!isDot) {
        const type = format.fileType ? DIR_ENTRY_FILE_TYPES[v.u8(pos + 7)] : undefined;
        out.push(type ? { name: nameBytes.toString('utf8'), node: inode, type } : { name: nameBytes.toString('utf8'), node: inode });
      }
    }
    pos += recLen;
  }
}
