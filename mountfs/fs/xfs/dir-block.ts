/**
 * Directory data blocks: where every XFS directory bigger than its inode keeps its
 * entries. A block directory is one directory block ("XD2B", v5 "XDB3") whose entries
 * are followed by a hash leaf and a tail giving the leaf's entry count; leaf and node
 * directories keep entries in data blocks ("XD2D", v5 "XDD3") filling the whole block,
 * with the hash leaves and free-space index above logical offset 32 GiB, which this
 * reader never needs: it lists a directory by reading its data blocks linearly.
 *
 * Follows "XFS Algorithms & Data Structures", "Block Directories" and "Leaf
 * Directories" (struct xfs_dir2_data_hdr / xfs_dir3_data_hdr, xfs_dir2_data_entry,
 * xfs_dir2_data_unused, xfs_dir2_block_tail). Entries are 8-byte aligned: inode number
 * (8 bytes), name length, name, the ftype byte when the filesystem has it, padding, and
 * a 2-byte tag holding the entry's own offset; free space is a 0xFFFF tag with a
 * length. Every length is checked against the end of the data area, and the tag
 * against the entry's offset, so a lying entry cannot reach past the block.
 */
import { verifyXfsCrc } from './crc.js';
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { DIR_ENTRY_FILE_TYPES, type RawDirEntry } from '../types.js';

/** Checks an inode number found in a directory; throws a corrupt error when it cannot exist. */
export type InodeCheck = (ino: number, structure: string, offset: number) => void;

const MAGIC = {
  XD2B: 0x58443242,
  XD2D: 0x58443244,
  XDB3: 0x58444233,
  XDD3: 0x58444433,
} as const;
const V4_HEADER = 16;
const V5_HEADER = 64;
const BLOCK_TAIL = 8;
const LEAF_ENTRY = 8;

/** Appends the entries of one directory block (`buf` is sb.dirBlockSize bytes read from `offset`). */
export function parseDirBlock(buf: Buffer, offset: number, version: 4 | 5, hasFtype: boolean, checkIno: InodeCheck, out: RawDirEntry[]): void {
  const v = new BinaryView(buf, 'XFS directory block', offset);
  const magic = v.u32be(0);
  const isBlock = magic === (version === 5 ? MAGIC.XDB3 : MAGIC.XD2B);
  if (!isBlock && magic !== (version === 5 ? MAGIC.XDD3 : MAGIC.XD2D)) {
    throw corrupt(v.structure, `bad magic 0x${magic.toString(16)}`, offset);
  }
  // v5: xfs_dir3_blk_hdr's crc, at +4, covers the whole directory block.
  if (version === 5) verifyXfsCrc(buf, 4, v.structure, offset);
  const header = version === 5 ? V5_HEADER : V4_HEADER;
  let end = buf.length;
  if (isBlock) {
    // A single-block directory ends with its hash leaf and a tail counting the leaf entries.
    const leafCount = v.u32be(buf.length - BLOCK_TAIL);
    end = buf.length - BLOCK_TAIL - leafCount * LEAF_ENTRY;
    if (leafCount > buf.length || end < header) {
      throw corrupt(v.structure, `block tail claims ${leafCount} leaf entries, more than the block holds`, offset + buf.length - BLOCK_TAIL);
    }
  }
  let pos = header;
  while (pos < end) {
    if (v.u16be(pos) === 0xffff) {
      const length = v.u16be(pos + 2);
      if (length < 8 || length % 8 !== 0 || pos + length > end) {
        throw corrupt(v.structure, `free space of ${length} bytes at +${pos} does not fit the block`, offset + pos + 2);
      }
      pos += length;
      continue;
    }
    const nameLen = v.u8(pos + 8);
    if (nameLen === 0) throw corrupt(v.structure, `entry at +${pos} has an empty name`, offset + pos + 8);
    const entryLen = Math.ceil((8 + 1 + nameLen + (hasFtype ? 1 : 0) + 2) / 8) * 8;
    if (pos + entryLen > end) {
      throw corrupt(v.structure, `entry at +${pos} with a ${nameLen}-byte name runs past the end of the block's data (+${end})`, offset + pos + 8);
    }
    const tag = v.u16be(pos + entryLen - 2);
    if (tag !== pos) throw corrupt(v.structure, `entry at +${pos} is tagged with offset ${tag}`, offset + pos + entryLen - 2);
    const ino = v.u32be(pos) * 2 ** 32 + v.u32be(pos + 4);
    const name = v.bytes(pos + 9, nameLen).toString('utf8');
    if (name !== '.' && name !== '..') {
      checkIno(ino, v.structure, offset + pos);
      out.push({ name, node: ino, type: hasFtype ? DIR_ENTRY_FILE_TYPES[v.u8(pos + 9 + nameLen)] : undefined });
    }
    pos += entryLen;
  }
}
