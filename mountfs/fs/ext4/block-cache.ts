/**
 * Block-level access to the filesystem's byte source. Every block number the reader
 * follows comes from the image, so each one is checked against s_blocks_count before
 * it is read, and a short read (an image cut off before the filesystem's end) is a
 * typed "corrupt" error rather than a silently short buffer.
 *
 * Metadata blocks (inode tables, group descriptors, extent and indirect blocks) go
 * through the block cache (mountfs/block-cache.ts): walks touch the same inode-table block for up to
 * block_size / inode_size neighbouring inodes, and streaming a file revisits the same
 * index blocks. File and directory data bypass the cache and are read as contiguous
 * runs, one source.read per run, so a large file never evicts the metadata.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { cacheOrOwn, type BlockCache, type CacheRegion } from '../../block-cache.js';
import type { ByteSource } from '../../sources/byte-source.js';

export class BlockReader {
  private readonly cache: CacheRegion;

  /** `cache` is the opened target's; a reader opened alone gets one of its own. */
  constructor(
    private readonly source: ByteSource,
    readonly blockSize: number,
    readonly blocksCount: number,
    cache?: BlockCache,
  ) {
    this.cache = cacheOrOwn(cache).region('ext4 metadata blocks');
  }

  /**
   * Throws unless blocks [first, first + count) lie inside the filesystem.
   * `pointerOffset` is where the block number was read, for the error message.
   */
  checkRange(first: number, count: number, structure: string, pointerOffset?: number): void {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 0 || first + count > this.blocksCount) {
      const what = count === 1 ? `block ${first} lies` : `blocks ${first}..${first + count - 1} lie`;
      throw corrupt(structure, `${what} outside the filesystem's ${this.blocksCount} blocks`, pointerOffset);
    }
  }

  /** One metadata block, through the cache. */
  async block(n: number, structure: string, pointerOffset?: number): Promise<BinaryView> {
    this.checkRange(n, 1, structure, pointerOffset);
    const buf = await this.cache.get(n, this.blockSize, () => this.readExact(n, 1, structure));
    return new BinaryView(buf, structure, n * this.blockSize);
  }

  /** `count` contiguous blocks straight from the source, not cached (file and directory data). */
  async run(first: number, count: number, structure: string, pointerOffset?: number): Promise<Buffer> {
    this.checkRange(first, count, structure, pointerOffset);
    return this.readExact(first, count, structure);
  }

  clear(): void {
    this.cache.clear();
  }

  private async readExact(first: number, count: number, structure: string): Promise<Buffer> {
    const offset = first * this.blockSize;
    const length = count * this.blockSize;
    const buf = await this.source.read(offset, length);
    if (buf.length !== length) {
      throw corrupt(
        structure,
        `block ${first + Math.floor(buf.length / this.blockSize)} lies past the end of the ${this.source.size}-byte image (truncated image?)`,
        offset + buf.length,
      );
    }
    return buf;
  }
}
