/**
 * Symbolic link targets. A short target lives in the inode's data fork (local
 * format); a longer one (XFS allows up to 1024 bytes) lives in one or more file
 * system blocks mapped by extents. On v5 filesystems each such block starts with a
 * 56-byte "XSLM" header giving the byte offset and count of the piece it holds; on v4
 * the blocks hold the bare target.
 *
 * Follows "XFS Algorithms & Data Structures", "Symbolic Links" (struct
 * xfs_dsymlink_hdr). The target length comes from di_size, is checked against the
 * 1024-byte maximum and the fork or the blocks, and every header's offset and count
 * must continue the target exactly.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { XfsInode } from './inode.js';

export const SYMLINK_MAXLEN = 1024;
const XSLM_MAGIC = 0x58534c4d; // "XSLM"
const V5_HEADER = 56;

function checkLength(inode: XfsInode): void {
  if (inode.size < 1 || inode.size > SYMLINK_MAXLEN) {
    throw corrupt(`XFS inode ${inode.ino}`, `symlink target of ${inode.size} bytes (1..${SYMLINK_MAXLEN} allowed)`, inode.offset + 56);
  }
}

/** The target stored in the inode itself. */
export function localSymlink(inode: XfsInode): string {
  checkLength(inode);
  return inode.dataFork.bytes(0, inode.size).toString('utf8');
}

/** How many file blocks hold a remote target of the inode's size. */
export function remoteSymlinkBlocks(inode: XfsInode, blockSize: number, version: 4 | 5): number {
  checkLength(inode);
  return Math.ceil(inode.size / (blockSize - (version === 5 ? V5_HEADER : 0)));
}

/** Joins the target from its blocks, in logical order. */
export function remoteSymlink(inode: XfsInode, blocks: BinaryView[], version: 4 | 5): string {
  const parts: Buffer[] = [];
  let got = 0;
  for (const v of blocks) {
    const want = inode.size - got;
    if (want <= 0) break;
    if (version === 4) {
      const piece = v.bytes(0, Math.min(want, v.length));
      parts.push(piece);
      got += piece.length;
      continue;
    }
    if (v.u32be(0) !== XSLM_MAGIC) throw corrupt(v.structure, `bad symlink block magic 0x${v.u32be(0).toString(16)}`, v.baseOffset);
    const offset = v.u32be(4);
    const bytes = v.u32be(8);
    if (offset !== got || bytes < 1 || bytes > want || bytes > v.length - V5_HEADER) {
      throw corrupt(v.structure, `block holds bytes ${offset}+${bytes} of a ${inode.size}-byte target where ${got}.. was expected`, v.baseOffset + 4);
    }
    if (v.u32be(32) * 2 ** 32 + v.u32be(36) !== inode.ino) {
      throw corrupt(v.structure, `symlink block belongs to another inode`, v.baseOffset + 32);
    }
    parts.push(v.bytes(V5_HEADER, bytes));
    got += bytes;
  }
  if (got !== inode.size) throw corrupt(`XFS inode ${inode.ino}`, `symlink blocks hold ${got} of ${inode.size} target bytes`, inode.offset);
  return Buffer.concat(parts).toString('utf8');
}
