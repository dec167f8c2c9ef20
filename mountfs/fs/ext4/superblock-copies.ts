/**
 * Which superblock copy the reader trusts. With metadata_csum the primary (byte 1024)
 * carries a CRC-32C; when it does not match, the copy is damaged or was edited by
 * hand, and its geometry cannot be believed. e2fsck then "tries backup blocks": the
 * copies mkfs and resize2fs keep at the start of group 1 (or sparse_super2's two
 * groups), at the place the default geometry puts them for each block size. minescan
 * does the same, accepting a copy only if its own checksum holds and its geometry
 * puts its group (s_block_group_nr) exactly where it was found.
 *
 * Either way the damage is an error of the report, never a note: a scan that read
 * through a backup (older than the primary if the filesystem changed since the last
 * resize or e2fsck) is no verdict on the disk. The descriptors are still read from
 * the primary table, each verified by its own checksum: backup descriptor tables are
 * written only at mkfs and resize time, so their INODE_UNINIT flags could hide every
 * inode created since.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, type MountfsError } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import { SB_CHECKSUM_FIELD, superblockChecksum } from './checksums.js';
import { COMPAT, RO_COMPAT, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, parseSuperblock, type Superblock } from './superblock.js';

const STRUCT = 'ext4 superblock';
const EXT_MAGIC = 0xef53;

export interface ChosenSuperblock {
  sb: Superblock;
  /** What was wrong with the primary copy when a backup was used: errors of the report. */
  damage: MountfsError[];
}

export async function readSuperblock(source: ByteSource): Promise<ChosenSuperblock> {
  const primary = await readCopy(source, SUPERBLOCK_OFFSET);
  if (!primary) {
    throw corrupt(STRUCT, `the ${source.size}-byte source ends before the superblock does`, SUPERBLOCK_OFFSET);
  }
  const mismatch = checksumMismatch(primary);
  // No checksum to hold (or a matching one): the range checks in parseSuperblock decide.
  if (mismatch === undefined) return { sb: parseSuperblock(primary), damage: [] };

  const tried: number[] = [];
  for (const offset of backupOffsets(primary, source.size)) {
    tried.push(offset);
    const sb = await backupAt(source, offset);
    if (!sb) continue;
    const why = `${mismatch}; read with the backup copy of group ${sb.blockGroupNr} at offset ${offset} instead (it may predate the newest changes)`;
    return { sb, damage: [corrupt(STRUCT, why, SUPERBLOCK_OFFSET)] };
  }
  const backups = tried.length === 0
    ? 'the filesystem is too small to hold a backup copy'
    : `no backup copy has a valid checksum either (tried offsets ${tried.join(', ')})`;
  throw corrupt(STRUCT, `${mismatch}; ${backups}`, SUPERBLOCK_OFFSET);
}

async function readCopy(source: ByteSource, offset: number): Promise<BinaryView | undefined> {
  const buf = await source.read(offset, SUPERBLOCK_SIZE);
  return buf.length < SUPERBLOCK_SIZE ? undefined : new BinaryView(buf, STRUCT, offset);
}

/** A description of the checksum failure, or undefined when there is none to check or it holds. */
function checksumMismatch(v: BinaryView): string | undefined {
  if (v.u16le(0x38) !== EXT_MAGIC || v.u32le(0x4c) === 0) return undefined;
  if (!(v.u32le(0x64) & RO_COMPAT.METADATA_CSUM)) return undefined;
  const stored = v.u32le(SB_CHECKSUM_FIELD);
  const computed = superblockChecksum(v.bytes(0, SUPERBLOCK_SIZE));
  if (stored === computed) return undefined;
  return `s_checksum 0x${hex(stored)} does not match the 0x${hex(computed)} computed over the superblock (damaged or edited)`;
}

/**
 * Where backup copies may be: group 1 (or sparse_super2's groups) by the primary's own
 * geometry when it still parses, then group 1 of the default geometry (8 * block size
 * blocks per group) for each block size, as e2fsck guesses them.
 */
function backupOffsets(primary: BinaryView, sourceSize: number): number[] {
  const offsets: number[] = [];
  try {
    const sb = parseSuperblock(primary);
    const sparse2 = sb.backupGroups.filter((g) => g > 0);
    for (const g of sb.compat & COMPAT.SPARSE_SUPER2 ? sparse2 : [1]) {
      if (g < sb.groupCount) offsets.push((sb.firstDataBlock + g * sb.blocksPerGroup) * sb.blockSize);
    }
  } catch {
    // The primary's geometry is itself broken: only the default places remain.
  }
  for (let bs = 1024; bs <= 65536; bs *= 2) offsets.push(((bs === 1024 ? 1 : 0) + 8 * bs) * bs);
  return [...new Set(offsets)].filter((o) => o > SUPERBLOCK_OFFSET && o + SUPERBLOCK_SIZE <= sourceSize);
}

/** The backup copy at `offset` if it is whole, checksummed, and sits where its geometry says. */
async function backupAt(source: ByteSource, offset: number): Promise<Superblock | undefined> {
  const v = await readCopy(source, offset);
  if (!v || v.u16le(0x38) !== EXT_MAGIC || v.u32le(0x4c) === 0) return undefined;
  if (!(v.u32le(0x64) & RO_COMPAT.METADATA_CSUM) || checksumMismatch(v) !== undefined) return undefined;
  let sb: Superblock;
  try {
    sb = parseSuperblock(v);
  } catch {
    return undefined;
  }
  const home = (sb.firstDataBlock + sb.blockGroupNr * sb.blocksPerGroup) * sb.blockSize;
  return sb.blockGroupNr > 0 && home === offset ? sb : undefined;
}

const hex = (n: number) => n.toString(16).padStart(8, '0');
