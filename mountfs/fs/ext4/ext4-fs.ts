/**
 * ext2, ext3 and ext4 read straight from a byte source, read-only and without the
 * kernel: the RawFileSystem the VFS walks when minescan scans a Linux disk image.
 *
 * This file ties the on-disk pieces together (superblock, group descriptors, inodes,
 * extent trees or indirect maps, directories, inline data) and owns the caches. Node
 * ids are inode numbers; the root directory is inode 2. Reads touch only the blocks a
 * request covers: opening reads the superblock, one descriptor block and the root
 * inode; a file read maps just its range and reads each contiguous run of blocks with
 * one source read. Memory stays bounded by the caches' limits whatever the image size.
 *
 * The journal is never replayed (the source is evidence and stays untouched), so an
 * image taken from a running system may miss its newest changes; notes() says so.
 * With metadata_csum (or gdt_csum for descriptors) the superblock, group descriptors
 * and inodes are verified against their checksums (checksums.ts): a mismatch is a typed
 * "corrupt" error for what the structure covers (the whole filesystem, a group's
 * inodes, one inode), and a damaged primary superblock is replaced by a verified backup
 * with an error the report keeps (superblock-copies.ts). With metadata_csum, extent
 * tree blocks (extents.ts), directory leaf blocks and htree root and node blocks are
 * verified too before they are used: a mismatch makes that file or directory
 * unreadable, a typed error naming the block. Extended-attribute blocks are not read
 * at all (no check looks at xattrs), so nothing is taken from an unverified one.
 * Without metadata_csum, structures rely on the range and consistency checks of their
 * parsers.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, ioError, limitExceeded, notFound, unsupported, type MountfsError } from '../../errors.js';
import type { BlockCache } from '../../block-cache.js';
import type { ByteSource } from '../../sources/byte-source.js';
import type { NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';
import { BlockReader } from './block-cache.js';
import { direntBlockChecksum, dxBlockChecksum, dxCountOffset, inodeBlocksSeed, inodeChecksumMatches, type BlockChecksum } from './checksums.js';
import type { BlockMapper } from './block-runs.js';
import { parseDirents, type DirentFormat } from './directory.js';
import { ExtentMapper } from './extents.js';
import { BG_INODE_UNINIT, GroupDescriptors } from './group-descriptors.js';
import { IndirectMapper } from './indirect.js';
import { inlineDirectoryRegions, readInline } from './inline-data.js';
import { I_BLOCK_SIZE, INODE_FLAGS, parseInode, type Inode } from './inode.js';
import { LruMap } from './lru.js';
import { readSuperblock } from './superblock-copies.js';
import {
  COMPAT,
  INCOMPAT,
  STATE,
  type ExtKind,
  type Superblock,
} from './superblock.js';

const ROOT_INO = 2;
/** i_generation, which the checksums of an inode's blocks chain after its number. */
const INODE_GENERATION = 0x64;
/** Parsed inodes kept (about 1-2 MiB), enough for the directories a walk is inside and their entries. */
const INODE_CACHE_ENTRIES = 4096;
/** Per-inode extent state (each may pin one leaf block): at most 32 * 64 KiB. */
const MAPPER_CACHE_ENTRIES = 32;
/** The most bytes one source read asks for; longer runs are split. */
const MAX_RUN_BYTES = 8 << 20;
/** Blocks of a directory mapped per step, so a huge directory is read in pieces. */
const DIRECTORY_STEP_BLOCKS = 1024;
/** A directory with more entries than this is treated as hostile. */
const MAX_DIRECTORY_ENTRIES = 5_000_000;
/**
 * Directories are 32-bit sized unless largedir is on; one past 4 GiB would hold far more
 * than MAX_DIRECTORY_ENTRIES, and walking its (possibly all-hole) blocks would take ages.
 */
const MAX_DIRECTORY_BYTES = 2 ** 32;
/** Linux refuses symlink targets of PATH_MAX or more. */
const MAX_SYMLINK_BYTES = 4096;

export class Ext4FileSystem implements RawFileSystem {
  readonly kind: ExtKind;
  readonly root: NodeId = ROOT_INO;
  private readonly inodes = new LruMap<number, Inode>(INODE_CACHE_ENTRIES);
  private readonly mappers = new LruMap<number, BlockMapper>(MAPPER_CACHE_ENTRIES);
  private readonly direntFormat: DirentFormat;
  private readonly fsNotes: string[];
  private readonly sourceSize: number;

  private constructor(
    readonly superblock: Superblock,
    private readonly blocks: BlockReader,
    private readonly groups: GroupDescriptors,
    sourceSize: number,
    private readonly superblockDamage: MountfsError[],
  ) {
    this.kind = superblock.kind;
    this.direntFormat = {
      fileType: (superblock.incompat & INCOMPAT.FILETYPE) !== 0,
      blockSize: superblock.blockSize,
      inodesCount: superblock.inodesCount,
    };
    this.fsNotes = notesFor(superblock, sourceSize);
    this.sourceSize = sourceSize;
  }

  /** Reads and checks the superblock and the root inode; nothing else is read until asked. */
  /** `cache` keeps metadata blocks (the opened target's); one of its own if absent. */
  static async open(source: ByteSource, cache?: BlockCache): Promise<Ext4FileSystem> {
    const { sb, damage } = await readSuperblock(source);
    const blocks = new BlockReader(source, sb.blockSize, sb.blocksCount, cache);
    const fs = new Ext4FileSystem(sb, blocks, new GroupDescriptors(sb, blocks), source.size, damage);
    const root = await fs.inode(ROOT_INO);
    if (root.type !== 'directory') {
      throw corrupt('ext4 inode', `the root inode is a ${root.type}, not a directory`, root.offset);
    }
    return fs;
  }

  notes(): string[] {
    return [...this.fsNotes];
  }

  /**
   * A primary superblock that failed its checksum (a backup was read instead), and a
   * truncated image, whatever lay past its end being missed: the scan cannot be complete.
   */
  unreadable(): MountfsError[] {
    const fsBytes = this.superblock.blocksCount * this.superblock.blockSize;
    if (this.sourceSize >= fsBytes) return [...this.superblockDamage];
    return [...this.superblockDamage, corrupt(`${this.kind} filesystem`, `the image ends after ${this.sourceSize} of the filesystem's ${fsBytes} bytes (truncated?): blocks past its end cannot be read`, this.sourceSize)];
  }

  async stat(node: NodeId): Promise<Stat> {
    const inode = await this.inode(node);
    const stat: Stat = {
      type: inode.type,
      mode: inode.mode,
      uid: inode.uid,
      gid: inode.gid,
      size: inode.size,
      atime: inode.atime,
      mtime: inode.mtime,
      ctime: inode.ctime,
      ino: inode.ino,
      nlink: inode.nlink,
      flags: {
        immutable: (inode.flags & INODE_FLAGS.IMMUTABLE) !== 0,
        appendOnly: (inode.flags & INODE_FLAGS.APPEND) !== 0,
      },
    };
    if (inode.crtime !== undefined) stat.crtime = inode.crtime;
    return stat;
  }

  async readdir(node: NodeId): Promise<RawDirEntry[]> {
    const inode = await this.inode(node);
    if (inode.type !== 'directory') throw notFound(`inode ${inode.ino}`, `not a directory (${inode.type})`);
    refuseEncrypted(inode, 'directory');
    const out: RawDirEntry[] = [];
    if (inode.flags & INODE_FLAGS.INLINE_DATA) {
      for (const region of inlineDirectoryRegions(inode)) parseDirents(region, this.direntFormat, out);
      return out;
    }
    if (inode.size > MAX_DIRECTORY_BYTES) {
      throw limitExceeded('ext4 directory', `inode ${inode.ino}: a directory of ${inode.size} bytes is larger than minescan reads`, inode.offset + 0x4);
    }
    const bs = this.superblock.blockSize;
    const total = Math.ceil(inode.size / bs);
    const mapper = this.mapper(inode);
    for (let first = 0; first < total; first += DIRECTORY_STEP_BLOCKS) {
      const runs = await mapper.map(first, Math.min(DIRECTORY_STEP_BLOCKS, total - first));
      for (const run of runs) {
        // A hole in a directory holds no entries (e2fsck would fill it; the kernel skips it).
        if (run.physical === null) continue;
        const seed = this.blocksSeed(inode);
        await this.forEachChunk(run.physical, run.count, 'ext4 directory block', (buf, physical) => {
          for (let b = 0; b * bs < buf.length; b++) {
            const block = new BinaryView(buf.subarray(b * bs, (b + 1) * bs), 'ext4 directory block', (physical + b) * bs);
            if (seed !== undefined) verifyDirectoryBlock(block, run.logical + (physical - run.physical!) + b, inode, seed, this.superblock);
            parseDirents(block, this.direntFormat, out);
          }
        });
        if (out.length > MAX_DIRECTORY_ENTRIES) {
          throw limitExceeded('ext4 directory', `inode ${inode.ino} has more than ${MAX_DIRECTORY_ENTRIES} entries`, inode.offset);
        }
      }
    }
    return out;
  }

  async readlink(node: NodeId): Promise<string> {
    const inode = await this.inode(node);
    if (inode.type !== 'symlink') throw notFound(`inode ${inode.ino}`, `not a symbolic link (${inode.type})`);
    refuseEncrypted(inode, 'symbolic link');
    if (inode.size >= MAX_SYMLINK_BYTES) {
      throw corrupt('ext4 inode', `inode ${inode.ino}: symlink target of ${inode.size} bytes is longer than PATH_MAX`, inode.offset + 0x4);
    }
    if (inode.flags & INODE_FLAGS.INLINE_DATA) return readInline(inode, 0, inode.size).toString('utf8');
    if (isFastSymlink(inode, this.superblock)) return inode.iBlock.bytes(0, inode.size).toString('utf8');
    return (await this.readData(inode, 0, inode.size)).toString('utf8');
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw ioError('ext4 read', `invalid range: ${length} bytes at ${offset}`);
    }
    const inode = await this.inode(node);
    if (inode.type !== 'file' && inode.type !== 'symlink') throw notFound(`inode ${inode.ino}`, `not a regular file (${inode.type})`);
    refuseEncrypted(inode, 'file');
    const end = Math.min(inode.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    if (inode.flags & INODE_FLAGS.INLINE_DATA) return readInline(inode, offset, end);
    if (inode.type === 'symlink' && isFastSymlink(inode, this.superblock)) return Buffer.from(inode.iBlock.bytes(offset, end - offset));
    return this.readData(inode, offset, end - offset);
  }

  async close(): Promise<void> {
    // The caller owns the source; only our own memory goes.
    this.inodes.clear();
    this.mappers.clear();
    this.groups.clear();
    this.blocks.clear();
  }

  /** Bytes [offset, offset + length) of a block-mapped inode, length already inside i_size. */
  private async readData(inode: Inode, offset: number, length: number): Promise<Buffer> {
    const bs = this.superblock.blockSize;
    const out = Buffer.alloc(length);
    const end = offset + length;
    const first = Math.floor(offset / bs);
    const runs = await this.mapper(inode).map(first, Math.ceil(end / bs) - first);
    for (const run of runs) {
      if (run.physical === null) continue; // holes and unwritten extents: out is already zeros
      const runStart = run.logical * bs;
      await this.forEachChunk(run.physical, run.count, 'ext4 file data', (buf, physical) => {
        const chunkStart = runStart + (physical - run.physical!) * bs;
        const from = Math.max(offset, chunkStart);
        const to = Math.min(end, chunkStart + buf.length);
        if (from < to) buf.copy(out, from - offset, from - chunkStart, to - chunkStart);
      });
    }
    return out;
  }

  /** Reads `count` blocks from `physical` in source reads of at most MAX_RUN_BYTES. */
  private async forEachChunk(physical: number, count: number, structure: string, use: (buf: Buffer, physical: number) => void): Promise<void> {
    const step = Math.max(1, Math.floor(MAX_RUN_BYTES / this.superblock.blockSize));
    for (let done = 0; done < count; done += step) {
      const n = Math.min(step, count - done);
      use(await this.blocks.run(physical + done, n, structure), physical + done);
    }
  }

  private mapper(inode: Inode): BlockMapper {
    let mapper = this.mappers.get(inode.ino);
    if (!mapper) {
      mapper = inode.flags & INODE_FLAGS.EXTENTS ? new ExtentMapper(inode, this.blocks, this.blocksSeed(inode)) : new IndirectMapper(inode, this.blocks);
      this.mappers.set(inode.ino, mapper);
    }
    return mapper;
  }

  /** With metadata_csum, the seed of the checksums of the blocks the inode owns. */
  private blocksSeed(inode: Inode): number | undefined {
    const sb = this.superblock;
    if (!sb.metadataCsum) return undefined;
    return inodeBlocksSeed(sb.checksumSeed, inode.ino, inode.raw.u32le(INODE_GENERATION));
  }

  private async inode(node: NodeId): Promise<Inode> {
    if (typeof node !== 'number') throw notFound(String(node), 'not an inode number of this filesystem');
    const sb = this.superblock;
    if (!Number.isInteger(node) || node < 1 || node > sb.inodesCount) {
      throw corrupt('ext4 inode number', `inode ${node} is outside 1..${sb.inodesCount} (s_inodes_count)`);
    }
    const cached = this.inodes.get(node);
    if (cached) return cached;
    const group = Math.floor((node - 1) / sb.inodesPerGroup);
    const desc = await this.groups.get(group);
    if (desc.flagsValid && desc.flags & BG_INODE_UNINIT) {
      throw corrupt('ext4 group descriptor', `inode ${node} lies in group ${group}, whose inode table was never initialised (INODE_UNINIT)`, desc.offset + 0x12);
    }
    const byteInTable = ((node - 1) % sb.inodesPerGroup) * sb.inodeSize;
    const block = await this.blocks.block(desc.inodeTable + Math.floor(byteInTable / sb.blockSize), 'ext4 inode table');
    const within = byteInTable % sb.blockSize;
    const raw = block.bytes(within, sb.inodeSize);
    verifyInodeChecksum(raw, block.baseOffset + within, node, sb);
    const inode = parseInode(raw, block.baseOffset + within, node, sb);
    this.inodes.set(node, inode);
    return inode;
  }
}

/**
 * A symlink whose target sits in i_block. Inline-data symlinks are handled before this.
 * A slow symlink has data blocks: either an extent tree (extents flag, which the kernel
 * and e2fsprogs clear for fast symlinks) or block pointers, which then show in i_blocks.
 * The blocks of an external extended-attribute block are charged to i_blocks too, so
 * they are subtracted first: a fast symlink with an EA block is still fast.
 */
function isFastSymlink(inode: Inode, sb: Superblock): boolean {
  if (inode.size >= I_BLOCK_SIZE) return false;
  if (inode.flags & INODE_FLAGS.EXTENTS) return false;
  const eaSectors = inode.fileAcl !== 0 ? sb.clusterSize / 512 : 0;
  return inode.sectors - eaSectors <= 0;
}

/**
 * A directory block as the kernel reads it with metadata_csum (__ext4_read_dirblock):
 * in an htree directory block 0 and every block whose first entry spans it are index
 * blocks checked by their dx_tail, every other block must end in a checksummed
 * ext4_dir_entry_tail. `logical` is the block's number within the directory.
 */
function verifyDirectoryBlock(block: BinaryView, logical: number, inode: Inode, seed: number, sb: Superblock): void {
  const raw = block.bytes(0, block.length);
  const bs = sb.blockSize;
  const where = `inode ${inode.ino}, directory block ${logical}`;
  const htree = (sb.compat & COMPAT.DIR_INDEX) !== 0 && (inode.flags & INODE_FLAGS.INDEX) !== 0;
  const indexed = htree && (logical === 0 || dxCountOffset(raw, bs) === 8);
  let sum: BlockChecksum | string;
  let structure: string;
  if (indexed) {
    structure = 'ext4 htree node';
    const countOffset = dxCountOffset(raw, bs);
    sum = countOffset === undefined ? 'not an htree root or node, as the directory\'s index flag says block 0 must be' : dxBlockChecksum(seed, raw, countOffset);
  } else {
    structure = 'ext4 directory block';
    sum = direntBlockChecksum(seed, raw) ?? 'no ext4_dir_entry_tail to hold its checksum';
  }
  if (typeof sum === 'string') throw corrupt(structure, `${where}: ${sum}`, block.baseOffset);
  if (sum.stored !== sum.computed) {
    throw corrupt(structure, `${where}: checksum 0x${sum.stored.toString(16)} does not match the 0x${sum.computed.toString(16)} computed over the block (damaged or edited)`, block.baseOffset + sum.at);
  }
}

/** With metadata_csum, an inode whose checksum fails is not read: its fields may be anything. */
function verifyInodeChecksum(raw: Buffer, offset: number, ino: number, sb: Superblock): void {
  // i_checksum_lo lives in osd2, whose layout is Linux's only.
  if (!sb.metadataCsum || sb.creatorOs !== 0) return;
  const { ok, stored, computed } = inodeChecksumMatches(sb.checksumSeed, ino, raw);
  if (!ok) {
    throw corrupt('ext4 inode', `inode ${ino}: checksum 0x${stored.toString(16)} does not match the 0x${computed.toString(16)} computed over it (damaged or edited)`, offset);
  }
}

function refuseEncrypted(inode: Inode, what: string): void {
  if (inode.flags & INODE_FLAGS.ENCRYPT) {
    throw unsupported('ext4 inode', `inode ${inode.ino} is an encrypted ${what} (fscrypt); it cannot be read without the key`, inode.offset + 0x20);
  }
}

function notesFor(sb: Superblock, sourceSize: number): string[] {
  const notes: string[] = [];
  if (sb.incompat & INCOMPAT.RECOVER) {
    notes.push(`${sb.kind} journal needs recovery (needs_recovery flag set); the journal was not replayed, recent changes may be missing`);
  } else if (!(sb.state & STATE.VALID)) {
    notes.push(`${sb.kind} filesystem was not cleanly unmounted (s_state); recent changes may be incomplete`);
  }
  if (sb.state & STATE.ERROR) {
    notes.push(`${sb.kind} filesystem is marked as having errors (s_state); the kernel found inconsistencies, some metadata may be damaged`);
  }
  const fsBytes = sb.blocksCount * sb.blockSize;
  if (sourceSize < fsBytes) {
    notes.push(`the image (${sourceSize} bytes) is shorter than the ${sb.kind} filesystem (${fsBytes} bytes); blocks past its end cannot be read (truncated image?)`);
  }
  return notes;
}
