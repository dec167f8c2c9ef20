/**
 * Linear ext2/3/4 directory entries (Documentation/filesystems/ext4/directory.rst).
 * Hashed (htree) directories are read linearly too: their index blocks look like one
 * empty entry spanning the block, and the dx_root hides behind ".." — so every real
 * entry is found without trusting the hash tree. Checksum tails have inode 0.
 */
import { corrupt } from '../../errors.js';
import type { FileType, RawDirEntry } from '../types.js';

const FILE_TYPES: Record<number, FileType> = {
  1: 'file',
  2: 'directory',
  3: 'char',
  4: 'block',
  5: 'fifo',
  6: 'socket',
  7: 'symlink',
};

/**
 * Entries in one directory block (or the inline-data area). `blockStart` is the byte
 * offset for messages; `inodesCount` bounds inode numbers; `fileType` says whether the
 * name length is one byte followed by a type byte.
 */
export function parseDirectoryBlock(
  buf: Buffer,
  where: string,
  blockStart: number,
  inodesCount: number,
  fileType: boolean,
  out: RawDirEntry[],
): void {
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const ino = buf.readUInt32LE(pos);
    const recLen = buf.readUInt16LE(pos + 4);
    const nameLen = fileType ? buf[pos + 6]! : buf.readUInt16LE(pos + 6);
    if (recLen < 8 || recLen % 4 !== 0 || pos + recLen > buf.length) {
      throw corrupt(where, `directory entry record length ${recLen} is impossible`, blockStart + pos + 4);
    }
    if (ino !== 0) {
      if (nameLen === 0 || 8 + nameLen > recLen) throw corrupt(where, `directory entry name length ${nameLen} does not fit its record`, blockStart + pos + 6);
      if (ino > inodesCount) throw corrupt(where, `directory entry names inode ${ino}, past the ${inodesCount} the filesystem has`, blockStart + pos);
      const name = buf.toString('utf8', pos + 8, pos + 8 + nameLen);
      if (name !== '.' && name !== '..') {
        out.push({ name, node: ino, type: fileType ? FILE_TYPES[buf[pos + 7]!] : undefined });
      }
    }
    pos += recLen;
  }
}
