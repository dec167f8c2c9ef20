/**
 * XFS read in pure TypeScript: v4 and v5 (CRC) filesystems, block sizes 512 B..64 KiB,
 * directory blocks larger than file-system blocks, v1/v2/v3 inodes with bigtime and
 * nrext64, extent-list and B+tree data forks, sparse files and unwritten extents
 * (zeros), short-form, block, leaf and node directories, local and remote symlinks.
 * Node ids are inode numbers (they can pass 2^32; they stay below 2^53).
 *
 * Nothing is replayed from the log. On v5 the CRCs of directory data blocks and bmap
 * btree blocks are verified (crc.ts), those of other structures are not; magic
 * numbers, owners and every bound are. notes() says when the filesystem was not unmounted cleanly.
 * Inode blocks and bmap btree blocks go through the block cache; file data, directory
 * blocks and symlink blocks are read straight from the source, in runs of contiguous
 * blocks. Realtime-device files are refused: the realtime device is another volume.
 *
 * Reference: "XFS Algorithms & Data Structures" and xfsprogs' libxfs/xfs_format.h.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, limitExceeded, unsupported } from '../../errors.js';
import { cacheOrOwn, type BlockCache, type CacheRegion } from '../../block-cache.js';
import type { ByteSource } from '../../sources/byte-source.js';
import type { NodeId, RawDirEntry, RawFileSystem, Stat } from '../types.js';
import { fsbToLinear, inodeLocation } from './ag.js';
import { extentsInRange, type Extent, type MetaReader } from './bmbt.js';
import { parseDirBlock, type InodeCheck } from './dir-block.js';
import { parseShortformDir } from './dir-shortform.js';
import { DIFLAG, FORMAT, inodeStat, parseInode, type XfsInode } from './inode.js';
import { logState } from './log.js';
import { INCOMPAT, parseSuperblock, SUPERBLOCK_BYTES, type XfsSuperblock } from './superblock.js';
import { localSymlink, remoteSymlink, remoteSymlinkBlocks } from './symlink.js';

const INODE_CACHE = 4096;
/** A directory whose data blocks pass this is not a real directory. */
const MAX_DIRECTORY_BYTES = 256 << 20;
/** One read() returns at most this much. */
const MAX_READ_BYTES = 256 << 20;
/** Data is read from the source in pieces of at most this many bytes. */
const MAX_RUN_BYTES = 8 << 20;
/** Directory data lives below this byte offset of the data fork; leaf and free blocks above. */
const DIR_LEAF_OFFSET = 2 ** 35;

/** A map from logical file blocks to linear disk blocks, or null for holes and unwritten extents. */
interface Run {
  logical: number;
  linear: number | null;
  length: number;
}

export class XfsFileSystem implements RawFileSystem, MetaReader {
  readonly kind = 'xfs';
  readonly root: NodeId;
  /** Metadata blocks (inode clusters, btree blocks); parsed inodes stay a count-bounded map of their own. */
  private readonly blockCache: CacheRegion;
  private readonly inodeCache = new Map<number, Promise<XfsInode>>();
  private readonly checkIno: InodeCheck;

  private constructor(
    private readonly source: ByteSource,
    readonly sb: XfsSuperblock,
    private readonly noteList: string[],
    cache: BlockCache,
  ) {
    this.root = sb.rootIno;
    this.blockCache = cache.region('XFS metadata blocks');
    this.checkIno = (ino, structure, offset) => void inodeLocation(sb, ino, structure, offset);
  }

  /** `cache` keeps metadata blocks (the opened target's); one of its own if absent. */
  static async open(source: ByteSource, cache?: BlockCache): Promise<XfsFileSystem> {
    if (source.size < SUPERBLOCK_BYTES) throw corrupt('XFS superblock', `the volume is only ${source.size} bytes`, 0);
    const sb = parseSuperblock(await source.read(0, SUPERBLOCK_BYTES));
    const fs = new XfsFileSystem(source, sb, [], cacheOrOwn(cache));
    const root = await fs.inode(sb.rootIno);
    if (root.type !== 'directory') throw corrupt('XFS superblock', `root inode ${sb.rootIno} is a ${root.type}, not a directory`, 56);
    fs.noteList.push(...(await stateNotes(source, sb)));
    return fs;
  }

  notes(): string[] {
    return [...this.noteList];
  }

  async close(): Promise<void> {
    this.blockCache.clear();
    this.inodeCache.clear();
  }

  async stat(node: NodeId): Promise<Stat> {
    return inodeStat(await this.inode(node));
  }

  async readdir(node: NodeId): Promise<RawDirEntry[]> {
    const inode = await this.inode(node);
    if (inode.type !== 'directory') throw corrupt(`XFS inode ${inode.ino}`, 'is not a directory');
    if (inode.format === FORMAT.LOCAL) return parseShortformDir(inode.dataFork, inode.size, this.sb.hasFtype, this.checkIno);
    const bs = this.sb.blockSize;
    const perDirBlock = this.sb.dirBlockSize / bs;
    const dataBlocks = DIR_LEAF_OFFSET / bs;
    const extents = await extentsInRange(this, inode, 0, dataBlocks, MAX_DIRECTORY_BYTES / bs);
    const out: RawDirEntry[] = [];
    let done = -1;
    let bytes = 0;
    for (const e of extents) {
      if (e.unwritten) continue;
      const firstDir = Math.max(done + 1, Math.floor(e.startOff / perDirBlock));
      const lastDir = Math.floor((Math.min(e.startOff + e.count, dataBlocks) - 1) / perDirBlock);
      for (let d = firstDir; d <= lastDir; d++) {
        if ((bytes += this.sb.dirBlockSize) > MAX_DIRECTORY_BYTES) throw limitExceeded(`XFS directory inode ${inode.ino}`, `more than ${MAX_DIRECTORY_BYTES} bytes of directory blocks`);
        const runs = mapRuns(this.sb, extents, d * perDirBlock, perDirBlock);
        if (runs.some((r) => r.linear === null)) throw corrupt(`XFS directory inode ${inode.ino}`, `directory block ${d} is only partly mapped`);
        const parts: Buffer[] = [];
        for (const r of runs) parts.push(await this.readBlocks(r.linear!, r.length, `directory block ${d} of XFS inode ${inode.ino}`));
        const first = runs[0]!.linear! * bs;
        parseDirBlock(parts.length === 1 ? parts[0]! : Buffer.concat(parts), first, this.sb.version, this.sb.hasFtype, this.checkIno, out);
        done = d;
      }
    }
    return out;
  }

  async readlink(node: NodeId): Promise<string> {
    const inode = await this.inode(node);
    if (inode.type !== 'symlink') throw corrupt(`XFS inode ${inode.ino}`, 'is not a symbolic link');
    if (inode.format === FORMAT.LOCAL) return localSymlink(inode);
    const count = remoteSymlinkBlocks(inode, this.sb.blockSize, this.sb.version);
    const runs = mapRuns(this.sb, await extentsInRange(this, inode, 0, count, count), 0, count);
    const blocks: BinaryView[] = [];
    for (const r of runs) {
      if (r.linear === null) throw corrupt(`XFS inode ${inode.ino}`, `symlink block ${r.logical} is not mapped`);
      const data = await this.readBlocks(r.linear, r.length, `symlink block of XFS inode ${inode.ino}`);
      for (let i = 0; i < r.length; i++) {
        const at = i * this.sb.blockSize;
        blocks.push(new BinaryView(data.subarray(at, at + this.sb.blockSize), `symlink block of XFS inode ${inode.ino}`, (r.linear + i) * this.sb.blockSize));
      }
    }
    return remoteSymlink(inode, blocks, this.sb.version);
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const inode = await this.inode(node);
    if (inode.type !== 'file') throw corrupt(`XFS inode ${inode.ino}`, `is not a regular file (${inode.type})`);
    if (inode.flags & DIFLAG.REALTIME) throw unsupported(`XFS inode ${inode.ino}`, 'the file lives on the realtime device, which is not read');
    const end = Math.min(inode.size, offset + length);
    if (!Number.isSafeInteger(offset) || offset < 0 || end <= offset) return Buffer.alloc(0);
    if (end - offset > MAX_READ_BYTES) throw limitExceeded(`XFS inode ${inode.ino}`, `a single read of ${end - offset} bytes`);
    const bs = this.sb.blockSize;
    const first = Math.floor(offset / bs);
    const count = Math.floor((end - 1) / bs) - first + 1;
    const out = Buffer.alloc(end - offset);
    const runs = mapRuns(this.sb, await extentsInRange(this, inode, first, first + count, count + 1), first, count);
    const maxBlocks = Math.max(1, Math.floor(MAX_RUN_BYTES / bs));
    for (const run of runs) {
      if (run.linear === null) continue; // holes and unwritten extents read as zeros
      for (let done = 0; done < run.length; done += maxBlocks) {
        const n = Math.min(maxBlocks, run.length - done);
        const data = await this.readBlocks(run.linear + done, n, `data of XFS inode ${inode.ino}`);
        const runStart = (run.logical + done) * bs;
        const from = Math.max(offset, runStart);
        const to = Math.min(end, runStart + data.length);
        if (from < to) data.copy(out, from - offset, from - runStart, to - runStart);
      }
    }
    return out;
  }

  /** One metadata block by linear block number, through the LRU cache. */
  metaBlock(linear: number, structure: string): Promise<BinaryView> {
    const p = this.blockCache.get(linear, this.sb.blockSize, () => this.readBlocks(linear, 1, structure));
    return p.then((buf) => new BinaryView(buf, structure, linear * this.sb.blockSize));
  }

  /** `count` contiguous blocks from linear block `first`, exactly, or a corrupt error. */
  private async readBlocks(first: number, count: number, structure: string): Promise<Buffer> {
    const bs = this.sb.blockSize;
    if (!Number.isSafeInteger(first) || first < 0 || first + count > this.sb.dataBlocks) {
      throw corrupt(structure, `blocks ${first}+${count} are outside the filesystem's ${this.sb.dataBlocks} blocks`);
    }
    const buf = await this.source.read(first * bs, count * bs);
    if (buf.length !== count * bs) {
      throw corrupt(structure, `block ${first + Math.floor(buf.length / bs)} lies past the end of the ${this.source.size}-byte volume (truncated image?)`, first * bs + buf.length);
    }
    return buf;
  }

  private inode(node: NodeId): Promise<XfsInode> {
    const ino = typeof node === 'number' ? node : NaN;
    let p = this.inodeCache.get(ino);
    if (p) {
      this.inodeCache.delete(ino);
    } else {
      p = this.loadInode(ino);
      p.catch(() => this.inodeCache.delete(ino));
      if (this.inodeCache.size >= INODE_CACHE) this.inodeCache.delete(this.inodeCache.keys().next().value!);
    }
    this.inodeCache.set(ino, p);
    return p;
  }

  private async loadInode(ino: number): Promise<XfsInode> {
    const loc = inodeLocation(this.sb, ino, 'XFS inode');
    const block = await this.metaBlock(loc.block, `inode block of XFS inode ${ino}`);
    const at = loc.offsetInBlock;
    // A copy: a cached inode must not pin its whole (up to 64 KiB) block in memory.
    return parseInode(Buffer.from(block.bytes(at, this.sb.inodeSize)), ino, block.baseOffset + at, this.sb);
  }
}

/**
 * Splits logical blocks [first, first + count) into runs of disk blocks and holes,
 * given extents in ascending, non-overlapping order (bmbt.ts checks that). Unwritten
 * extents are holes. The first overlapping extent is found by binary search, so
 * mapping each block of a large directory in turn stays cheap.
 */
function mapRuns(sb: XfsSuperblock, extents: Extent[], first: number, count: number): Run[] {
  const runs: Run[] = [];
  const end = first + count;
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = extents[mid]!;
    if (e.startOff + e.count <= first) lo = mid + 1;
    else hi = mid;
  }
  let pos = first;
  for (let i = lo; i < extents.length && extents[i]!.startOff < end; i++) {
    const e = extents[i]!;
    const from = Math.max(pos, e.startOff);
    const to = Math.min(end, e.startOff + e.count);
    if (to <= from) continue;
    if (from > pos) runs.push({ logical: pos, linear: null, length: from - pos });
    const linear = e.unwritten ? null : fsbToLinear(sb, e.startBlock, e.count, 'XFS extent') + (from - e.startOff);
    runs.push({ logical: from, linear, length: to - from });
    pos = to;
  }
  if (pos < end) runs.push({ logical: pos, linear: null, length: end - pos });
  return runs;
}

/** What the report should say about the state the filesystem was left in. */
async function stateNotes(source: ByteSource, sb: XfsSuperblock): Promise<string[]> {
  const notes: string[] = [];
  if (sb.inProgress) notes.push('XFS superblock says mkfs never finished (sb_inprogress): the filesystem may be incomplete');
  if (sb.incompat & INCOMPAT.NEEDSREPAIR) notes.push('XFS filesystem is marked as needing xfs_repair (needsrepair): its metadata may be inconsistent');
  const log = await logState(source, sb);
  if (log === 'dirty') {
    notes.push('XFS log needs recovery (the filesystem was not unmounted cleanly); the log was not replayed, so the latest changes may be missing');
  } else if (sb.logIncompat !== 0) {
    notes.push(`XFS log holds incompatible log features (0x${sb.logIncompat.toString(16)}), set only while the log has unrecovered items: it may need recovery`);
  }
  if (sb.rtBlocks > 0) notes.push('XFS realtime device is not read: files on it are reported as unreadable');
  return notes;
}
