/**
 * ext2, ext3 and ext4 read in pure TypeScript. The one npm reader (the WASM ext2fs)
 * exposes no inode flags and ran out of memory walking a 1 GiB root, so minescan has
 * its own: superblock and group descriptors (32/64-bit, flex_bg, meta_bg), inodes,
 * extent trees and block maps, linear and htree directories, inline data, fast and slow
 * symlinks, sparse and huge files. The journal is not replayed: notes() says so when
 * it needs recovery. Metadata blocks go through a small LRU cache; file data is read
 * in runs of contiguous blocks straight from the source.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, limitExceeded } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import type { NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';
import { parseSuperblock, SUPERBLOCK_OFFSET, type Superblock } from './superblock.js';
import { FLAG_EXTENTS, FLAG_INLINE_DATA, inodeStat, parseInode, type Inode } from './inode.js';
import { extentMap, indirectMap, type BlockMap, type BlockReader } from './block-map.js';
import { parseDirectoryBlock } from './directory.js';

const ROOT_INO = 2;
const METADATA_CACHE_BLOCKS = 1024;
const INODE_CACHE = 4096;
const MAP_CACHE = 64;
/** A directory larger than this is not a real directory. */
const MAX_DIRECTORY_BYTES = 256 << 20;
/** Data reads are split into pieces of at most this many bytes. */
const MAX_RUN_BYTES = 8 << 20;

export class ExtFileSystem implements RawFileSystem, BlockReader {
  readonly root: NodeId = ROOT_INO;
  readonly kind: 'ext2' | 'ext3' | 'ext4';
  readonly blockSize: number;
  readonly blocksCount: number;
  private readonly inodeTables: number[];
  private readonly blockCache = new Map<number, Promise<Buffer>>();
  private readonly inodeCache = new Map<number, Promise<Inode>>();
  private readonly mapCache = new Map<number, Promise<BlockMap>>();

  private constructor(
    private readonly source: ByteSource,
    private readonly sb: Superblock,
    inodeTables: number[],
  ) {
    this.kind = sb.kind;
    this.blockSize = sb.blockSize;
    this.blocksCount = sb.blocksCount;
    this.inodeTables = inodeTables;
  }

  static async open(source: ByteSource): Promise<ExtFileSystem> {
    if (source.size < SUPERBLOCK_OFFSET + 1024) throw corrupt('ext superblock', `the volume is only ${source.size} bytes`, SUPERBLOCK_OFFSET);
    const sb = parseSuperblock(await source.read(SUPERBLOCK_OFFSET, 1024), source.size);
    const tables = await readInodeTableLocations(source, sb);
    return new ExtFileSystem(source, sb, tables);
  }

  notes(): string[] {
    const notes: string[] = [];
    if (this.sb.needsRecovery) notes.push(`${this.kind} journal needs recovery (the filesystem was not unmounted cleanly); the journal was not replayed, so the latest changes may be missing`);
    if (this.sb.state & 0x2) notes.push(`${this.kind} filesystem is marked as having errors`);
    return notes;
  }

  async close(): Promise<void> {
    this.blockCache.clear();
    this.inodeCache.clear();
    this.mapCache.clear();
  }

  async stat(node: NodeId): Promise<Stat> {
    return inodeStat(await this.inode(node));
  }

  async readdir(node: NodeId): Promise<RawDirEntry[]> {
    const inode = await this.inode(node);
    if (inode.type !== 'directory') throw corrupt(`ext inode ${inode.ino}`, 'is not a directory');
    const where = `directory inode ${inode.ino}`;
    const out: RawDirEntry[] = [];
    if (inode.flags & FLAG_INLINE_DATA) {
      // Inline directories: the parent's inode number, then entries; more entries in the "system.data" attribute.
      parseDirectoryBlock(inode.block.subarray(4, 60), where, 0, this.sb.inodesCount, this.sb.fileType, out);
      if (inode.inlineTail && inode.inlineTail.length > 0) parseDirectoryBlock(inode.inlineTail, where, 0, this.sb.inodesCount, this.sb.fileType, out);
      return out;
    }
    if (inode.size > MAX_DIRECTORY_BYTES) throw limitExceeded(where, `${inode.size}-byte directory`);
    const blocks = Math.ceil(inode.size / this.blockSize);
    const map = await this.blockMap(inode);
    for (const run of await map.runs(0, blocks)) {
      if (run.physical === null) continue;
      const data = await this.readRun(run.physical, run.length);
      for (let i = 0; i < run.length; i++) {
        const block = data.subarray(i * this.blockSize, (i + 1) * this.blockSize);
        parseDirectoryBlock(block, where, (run.physical + i) * this.blockSize, this.sb.inodesCount, this.sb.fileType, out);
      }
    }
    return out;
  }

  async readlink(node: NodeId): Promise<string> {
    const inode = await this.inode(node);
    if (inode.type !== 'symlink') throw corrupt(`ext inode ${inode.ino}`, 'is not a symbolic link');
    if (inode.size > 4096) throw corrupt(`ext inode ${inode.ino}`, `symlink target of ${inode.size} bytes`);
    const eaBlocks = inode.fileAcl ? this.blockSize / 512 : 0;
    const fast = !(inode.flags & (FLAG_EXTENTS | FLAG_INLINE_DATA)) && inode.size < 60 && inode.blocksLo <= eaBlocks;
    if (fast) return inode.block.toString('utf8', 0, inode.size);
    return (await this.readInode(inode, 0, inode.size)).toString('utf8');
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const inode = await this.inode(node);
    if (inode.type !== 'file') throw corrupt(`ext inode ${inode.ino}`, `is not a regular file (${inode.type})`);
    return this.readInode(inode, offset, length);
  }

  private async readInode(inode: Inode, offset: number, length: number): Promise<Buffer> {
    const end = Math.min(inode.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    if (inode.flags & FLAG_INLINE_DATA) {
      const inline = Buffer.concat([inode.block, inode.inlineTail ?? Buffer.alloc(0)]);
      const out = Buffer.alloc(end - offset);
      inline.copy(out, 0, offset, Math.min(end, inline.length));
      return out;
    }
    const out = Buffer.alloc(end - offset);
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const map = await this.blockMap(inode);
    for (const run of await map.runs(first, last - first + 1)) {
      if (run.physical === null) continue;
      const maxBlocks = Math.max(1, Math.floor(MAX_RUN_BYTES / bs));
      for (let done = 0; done < run.length; done += maxBlocks) {
        const n = Math.min(maxBlocks, run.length - done);
        const logical = run.logical + done;
        const data = await this.source.read((run.physical + done) * bs, n * bs);
        const runStart = logical * bs;
        const from = Math.max(offset, runStart);
        const to = Math.min(end, runStart + data.length);
        if (from < to) data.copy(out, from - offset, from - runStart, to - runStart);
      }
    }
    return out;
  }

  async readBlock(block: number, structure: string): Promise<Buffer> {
    if (block >= this.blocksCount) throw corrupt(structure, `block ${block} is outside the filesystem`);
    let p = this.blockCache.get(block);
    if (p) {
      this.blockCache.delete(block);
      this.blockCache.set(block, p);
      return p;
    }
    p = this.source.read(block * this.blockSize, this.blockSize).then((b) => {
      if (b.length < this.blockSize) throw corrupt(structure, `block ${block} lies past the end of the volume`, block * this.blockSize);
      return b;
    });
    this.blockCache.set(block, p);
    p.catch(() => this.blockCache.delete(block));
    if (this.blockCache.size > METADATA_CACHE_BLOCKS) this.blockCache.delete(this.blockCache.keys().next().value!);
    return p;
  }

  private async readRun(block: number, count: number): Promise<Buffer> {
    if (block + count > this.blocksCount) throw corrupt('ext data run', `blocks ${block}+${count} run past the filesystem`);
    const data = await this.source.read(block * this.blockSize, count * this.blockSize);
    if (data.length < count * this.blockSize) throw corrupt('ext data run', `blocks ${block}+${count} lie past the end of the volume`, block * this.blockSize);
    return data;
  }

  private inode(node: NodeId): Promise<Inode> {
    const ino = typeof node === 'number' ? node : NaN;
    if (!Number.isInteger(ino) || ino < 1 || ino > this.sb.inodesCount) {
      return Promise.reject(corrupt('ext inode', `inode number ${String(node)} is outside 1..${this.sb.inodesCount}`));
    }
    let p = this.inodeCache.get(ino);
    if (!p) {
      p = this.loadInode(ino);
      this.inodeCache.set(ino, p);
      p.catch(() => this.inodeCache.delete(ino));
      if (this.inodeCache.size > INODE_CACHE) this.inodeCache.delete(this.inodeCache.keys().next().value!);
    }
    return p;
  }

  private async loadInode(ino: number): Promise<Inode> {
    const group = Math.floor((ino - 1) / this.sb.inodesPerGroup);
    const index = (ino - 1) % this.sb.inodesPerGroup;
    const table = this.inodeTables[group]!;
    const byte = table * this.blockSize + index * this.sb.inodeSize;
    const block = Math.floor(byte / this.blockSize);
    const buf = await this.readBlock(block, `inode table of group ${group}`);
    const within = byte - block * this.blockSize;
    return parseInode(buf.subarray(within, within + this.sb.inodeSize), ino, byte, this.sb.inodeSize);
  }

  private blockMap(inode: Inode): Promise<BlockMap> {
    let p = this.mapCache.get(inode.ino);
    if (!p) {
      p = inode.flags & FLAG_EXTENTS ? extentMap(inode, this) : Promise.resolve(indirectMap(inode, this));
      this.mapCache.set(inode.ino, p);
      p.catch(() => this.mapCache.delete(inode.ino));
      if (this.mapCache.size > MAP_CACHE) this.mapCache.delete(this.mapCache.keys().next().value!);
    }
    return p;
  }
}

/** The inode table's first block for every group, from the group descriptors (classic layout or meta_bg). */
async function readInodeTableLocations(source: ByteSource, sb: Superblock): Promise<number[]> {
  const bs = sb.blockSize;
  const perBlock = bs / sb.descSize;
  const descBlocks = Math.ceil(sb.groupCount / perBlock);
  const gdtStart = sb.firstDataBlock + 1;
  const tables: number[] = [];
  const classicBlocks = sb.metaBg ? Math.min(sb.firstMetaBg, descBlocks) : descBlocks;
  const readDescBlocks = async (block: number, count: number) => {
    if (block + count > sb.blocksCount) throw corrupt('ext group descriptors', `blocks ${block}+${count} are outside the filesystem`, block * bs);
    const buf = await source.read(block * bs, count * bs);
    if (buf.length < count * bs) throw corrupt('ext group descriptors', 'the volume ends inside the group descriptor table', block * bs);
    return buf;
  };
  const take = (buf: Buffer, blockNo: number) => {
    const v = new BinaryView(buf, 'ext group descriptor', blockNo * bs);
    for (let i = 0; i * sb.descSize < buf.length && tables.length < sb.groupCount; i++) {
      const d = i * sb.descSize;
      const table = v.u32le(d + 0x8) + (sb.is64bit && sb.descSize >= 64 ? v.u32le(d + 0x28) * 2 ** 32 : 0);
      const tableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / bs);
      if (table === 0 || table + tableBlocks > sb.blocksCount) {
        throw corrupt('ext group descriptor', `group ${tables.length} puts its inode table at block ${table}, outside the filesystem`, blockNo * bs + d + 0x8);
      }
      tables.push(table);
    }
  };
  if (classicBlocks > 0) take(await readDescBlocks(gdtStart, classicBlocks), gdtStart);
  for (let i = classicBlocks; i < descBlocks; i++) {
    // meta_bg: descriptor block i lives in the first group of its meta group, after that group's superblock backup.
    const group = i * perBlock;
    const block = sb.firstDataBlock + group * sb.blocksPerGroup + (hasSuperblockBackup(group, sb) ? 1 : 0);
    take(await readDescBlocks(block, 1), block);
  }
  return tables;
}

function hasSuperblockBackup(group: number, sb: Superblock): boolean {
  const sparseSuper = (sb.featureRoCompat & 0x1) !== 0;
  if (!sparseSuper || group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let n = base;
    while (n < group) n *= base;
    if (n === group) return true;
  }
  return false;
}
