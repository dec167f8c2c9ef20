/**
 * Block group descriptors: one per group, saying where that group's inode table lies.
 * The reader needs nothing else from them (it never allocates, so bitmaps are unused).
 *
 * Follows Documentation/filesystems/ext4/group_descr.rst and the "Meta Block Groups"
 * part of blockgroup.rst. Descriptors are 32 bytes, or s_desc_size (>= 64) with the
 * 64bit feature, where the high halves of the block numbers follow the low ones.
 * Without meta_bg the descriptor table is contiguous right after the superblock's
 * block; with meta_bg, descriptor block N (from s_first_meta_bg on) sits in the first
 * group of the N-th meta group, after that group's superblock backup if it has one.
 *
 * With metadata_csum or gdt_csum each descriptor carries a checksum (checksums.ts). A
 * descriptor that fails it is not believed: its inode table could be anywhere, so every
 * inode of that group is an error naming the descriptor, and the other groups read on.
 */
import type { BinaryView } from '../../binary.js';
import { MountfsError, corrupt } from '../../errors.js';
import type { BlockReader } from './block-cache.js';
import { GD_CHECKSUM_FIELD, groupDescriptorCrc16, groupDescriptorCrc32c } from './checksums.js';
import { LruMap } from './lru.js';
import { INCOMPAT, RO_COMPAT, groupHasSuperblock, type Superblock } from './superblock.js';

const STRUCT = 'ext4 group descriptor';
/** bg_flags: the group's inode table was never initialised (lazy mkfs). */
export const BG_INODE_UNINIT = 0x1;

export interface GroupDescriptor {
  group: number;
  /** First block of the group's inode table. */
  inodeTable: number;
  /** bg_flags, meaningful only with gdt_csum or metadata_csum. */
  flags: number;
  /** Whether bg_flags can be trusted (a group-descriptor checksum feature is on). */
  flagsValid: boolean;
  /** Absolute byte offset of the descriptor, for error messages. */
  offset: number;
}

export class GroupDescriptors {
  /** Parsed descriptors, and the error of each one that failed its checksum. */
  private readonly cache = new LruMap<number, GroupDescriptor | MountfsError>(16_384);
  private readonly perBlock: number;
  private readonly tableBlocks: number;

  constructor(
    private readonly sb: Superblock,
    private readonly blocks: BlockReader,
  ) {
    this.perBlock = sb.blockSize / sb.descSize;
    this.tableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  }

  async get(group: number): Promise<GroupDescriptor> {
    if (!Number.isInteger(group) || group < 0 || group >= this.sb.groupCount) {
      throw corrupt(STRUCT, `group ${group} does not exist (the filesystem has ${this.sb.groupCount})`);
    }
    const cached = this.cache.get(group);
    if (cached instanceof MountfsError) throw cached;
    if (cached) return cached;
    const tableIndex = Math.floor(group / this.perBlock);
    const block = await this.blocks.block(this.descriptorBlock(tableIndex), `${STRUCT} table`);
    const v = block.slice((group % this.perBlock) * this.sb.descSize, this.sb.descSize, STRUCT);
    const damage = this.checksumError(group, v);
    if (damage) {
      this.cache.set(group, damage);
      throw damage;
    }
    const wide = this.sb.descSize >= 64 && (this.sb.incompat & INCOMPAT.BIT64) !== 0;
    const inodeTable = v.u32le(0x8) + (wide ? v.u32le(0x28) * 2 ** 32 : 0);
    if (inodeTable === 0 || inodeTable + this.tableBlocks > this.sb.blocksCount) {
      throw corrupt(STRUCT, `group ${group}'s inode table at block ${inodeTable} (${this.tableBlocks} blocks) lies outside the filesystem`, v.baseOffset + 0x8);
    }
    const desc: GroupDescriptor = {
      group,
      inodeTable,
      flags: v.u16le(0x12),
      flagsValid: (this.sb.roCompat & (RO_COMPAT.GDT_CSUM | RO_COMPAT.METADATA_CSUM)) !== 0,
      offset: v.baseOffset,
    };
    this.cache.set(group, desc);
    return desc;
  }

  /** The error for a descriptor whose bg_checksum does not hold, when the filesystem has one. */
  private checksumError(group: number, v: BinaryView): MountfsError | undefined {
    const raw = v.bytes(0, this.sb.descSize);
    let computed: number;
    if (this.sb.metadataCsum) computed = groupDescriptorCrc32c(this.sb.checksumSeed, group, raw);
    else if (this.sb.roCompat & RO_COMPAT.GDT_CSUM) computed = groupDescriptorCrc16(this.sb.uuid, group, raw);
    else return undefined;
    const stored = v.u16le(GD_CHECKSUM_FIELD);
    if (stored === computed) return undefined;
    return corrupt(STRUCT, `group ${group}: bg_checksum 0x${stored.toString(16)} does not match the 0x${computed.toString(16)} computed over the descriptor (damaged or edited); the group's inodes are not read`, v.baseOffset);
  }

  /** Block number of the `index`-th block of the descriptor table. */
  private descriptorBlock(index: number): number {
    // The superblock's own block: block 1 with 1 KiB blocks, block 0 otherwise.
    const superblockBlock = Math.floor(1024 / this.sb.blockSize);
    if (!(this.sb.incompat & INCOMPAT.META_BG) || index < this.sb.firstMetaBg) return superblockBlock + 1 + index;
    const firstGroup = index * this.perBlock;
    let block = this.sb.firstDataBlock + firstGroup * this.sb.blocksPerGroup;
    if (groupHasSuperblock(this.sb, firstGroup)) block += 1;
    // bigalloc with 1 KiB blocks starts group 0 at block 0, while the superblock is in block 1.
    if (firstGroup === 0 && this.sb.blockSize === 1024 && this.sb.firstDataBlock === 0) block += 1;
    return block;
  }

  clear(): void {
    this.cache.clear();
  }
}
