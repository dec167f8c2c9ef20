/**
 * Short-form directories: a directory small enough to live inside its inode's data
 * fork (local format). A header (entry count, count of 8-byte inode numbers, the parent)
 * is followed by packed entries of name length, a 2-byte lookup offset, the name, the
 * file type byte when the filesystem has ftype, and the inode number in 4 bytes, or in
 * 8 when any entry needs it (i8count > 0). There are no "." or ".." entries.
 *
 * Follows "XFS Algorithms & Data Structures", "Shortform Directories" (struct
 * xfs_dir2_sf_hdr / xfs_dir2_sf_entry). The entry count and every name length come from
 * the image, so each entry is read through a view cut at di_size (itself checked
 * against the fork size), and every inode number is checked by the caller.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { RawDirEntry } from '../types.js';
import { type InodeCheck } from './dir-block.js';
import { DIR_ENTRY_FILE_TYPES } from '../types.js';

export function parseShortformDir(fork: BinaryView, size: number, hasFtype: boolean, checkIno: InodeCheck): RawDirEntry[] {
  if (size > fork.length) throw corrupt(fork.structure, `short-form directory of ${size} bytes overflows the ${fork.length}-byte data fork`, fork.baseOffset);
  const v = fork.slice(0, size, `short-form directory (${fork.structure})`);
  const count = v.u8(0);
  const wide = v.u8(1) > 0;
  const inoBytes = wide ? 8 : 4;
  const readIno = (at: number): number => (wide ? v.u32be(at) * 2 ** 32 + v.u32be(at + 4) : v.u32be(at));
  checkIno(readIno(2), v.structure, v.baseOffset + 2);
  const out: RawDirEntry[] = [];
  let pos = 2 + inoBytes;
  for (let i = 0; i < count; i++) {
    const nameLen = v.u8(pos);
    if (nameLen === 0) throw corrupt(v.structure, `entry ${i} has an empty name`, v.baseOffset + pos);
    const name = v.bytes(pos + 3, nameLen).toString('utf8');
    let at = pos + 3 + nameLen;
    const ftype = hasFtype ? v.u8(at++) : 0;
    const ino = readIno(at);
    checkIno(ino, v.structure, v.baseOffset + at);
    out.push({ name, node: ino, type: hasFtype ? DIR_ENTRY_FILE_TYPES[ftype] : undefined });
    pos = at + inoBytes;
  }
  return out;
}
