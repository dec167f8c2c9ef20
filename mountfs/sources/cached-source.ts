/**
 * Filesystem and partition-table parsers make many small reads of the same metadata
 * (superblocks, group descriptors, inode tables, directory blocks). This wrapper keeps
 * aligned chunks in the block cache (mountfs/block-cache.ts), whose bound in bytes it
 * shares with every reader of the target, so those reads cost few reads of the medium. Concurrent requests for one chunk share a single underlying read. Reads
 * spanning more than a few chunks (file data) bypass the cache, so a large file does
 * not evict the metadata everyone else needs.
 *
 * A source whose reads cost a request each (EBS snapshot blocks) uses the same cache
 * with its own block as the chunk and a budget the user sets: it says which chunks
 * hold data (the others cost nothing, so they are neither cached nor prefetched), and
 * reads that keep walking forward through the source fetch a window of the next
 * chunks that hold data, growing with the walk up to a bound, concurrently, while the
 * budget has room for them.
 */
import { BlockCache, type CacheRegion } from '../block-cache.js';
import { ioError } from '../errors.js';
import { readEnd, type ByteSource } from './byte-source.js';

export interface CacheOptions {
  /** Chunk size in bytes, a power of two (default 64 KiB). */
  chunkSize?: number;
  /** Upper bound of cached bytes, including reads in flight, for a cache of its own (default 32 MiB). */
  maxBytes?: number;
  /** The cache to keep chunks in (shared with the readers above); one of maxBytes of its own if absent. */
  cache?: BlockCache;
  /** Reads this long or longer go straight to the inner source (default 4 chunks). */
  bypassBytes?: number;
  /** Whether the inner source holds data for a chunk; chunks it does not are read through uncached. */
  holds?: (chunk: number) => boolean;
  /** Chunks fetched ahead of a read that follows the previous one (default 0: none). */
  readahead?: number;
}

export class CachedByteSource implements ByteSource {
  readonly description: string;
  readonly size: number;
  private readonly chunkSize: number;
  private readonly bypassBytes: number;
  private readonly holds?: (chunk: number) => boolean;
  private readonly readahead: number;
  /** The last chunk the previous cached read touched: a read that moves on from it walks forward. */
  private lastChunk = -2;
  /** Chunks the current forward walk has covered: the window grows with it, so a short file costs little. */
  private run = 0;
  /** Chunks read from the inner source, prefetches included (for tests of the cache). */
  chunksFetched = 0;
  /** The cache the chunks live in, shared with the target's readers. */
  readonly cache: BlockCache;
  /** Chunk index → its bytes. */
  private readonly chunks: CacheRegion;

  constructor(private readonly inner: ByteSource, options: CacheOptions = {}) {
    this.description = inner.description;
    this.size = inner.size;
    this.chunkSize = options.chunkSize ?? 64 * 1024;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize <= 0 || this.chunkSize > 2 ** 30 || (this.chunkSize & (this.chunkSize - 1)) !== 0) {
      throw ioError(inner.description, `cache chunk size ${this.chunkSize} is not a power of two`);
    }
    this.cache = options.cache ?? new BlockCache(Math.max(this.chunkSize, options.maxBytes ?? 32 * 1024 * 1024));
    this.chunks = this.cache.region(`chunks of ${inner.description}`);
    this.bypassBytes = options.bypassBytes ?? 4 * this.chunkSize;
    this.holds = options.holds;
    this.readahead = Math.max(0, Math.floor(options.readahead ?? 0));
  }

  /** Number of chunks held (for tests of the memory bound). */
  get cachedChunks(): number {
    return this.chunks.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = readEnd(this, offset, length);
    if (end <= offset) return Buffer.alloc(0);
    if (end - offset >= this.bypassBytes) return this.inner.read(offset, end - offset);

    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((end - 1) / this.chunkSize);
    const pending = Array.from({ length: last - first + 1 }, (_, i) => this.chunk(first + i));
    if (this.readahead > 0) this.prefetch(first, last);
    const parts = await Promise.all(pending);
    // A copy: callers may modify what they get without corrupting the cache.
    const out = Buffer.alloc(end - offset);
    let filled = 0;
    for (let i = 0; i < parts.length; i++) {
      const chunkStart = (first + i) * this.chunkSize;
      const from = Math.max(offset, chunkStart) - chunkStart;
      const to = Math.min(end - chunkStart, parts[i]!.length);
      if (to <= from) break;
      filled += parts[i]!.copy(out, filled, from, to);
      // A short chunk means the inner source ended early: what follows is unknown.
      if (to < Math.min(end - chunkStart, this.chunkSize)) break;
    }
    return filled === out.length ? out : out.subarray(0, filled);
  }

  private chunk(index: number): Promise<Buffer> {
    if (this.holds && !this.holds(index) && !this.chunks.has(index)) return this.inner.read(index * this.chunkSize, this.chunkSize);
    return this.load(index);
  }

  /** Through the cache; a failed read is not remembered, so the next request tries the medium again. */
  private load(index: number): Promise<Buffer> {
    return this.chunks.get(index, this.chunkSize, () => {
      this.chunksFetched++;
      return this.inner.read(index * this.chunkSize, this.chunkSize);
    });
  }

  /**
   * After a read that continues the previous one (file data read in pieces), starts
   * fetching the next chunks that hold data: none on the first step forward, then one
   * more for each step the walk has taken, at most `readahead`; holes are skipped (they
   * cost nothing), and only free room is filled: a prefetch never evicts what a reader
   * asked for.
   */
  private prefetch(first: number, last: number): void {
    const sequential = first === this.lastChunk + 1 || (first === this.lastChunk && last > first);
    this.run = sequential ? this.run + (last - this.lastChunk) : last - first + 1;
    this.lastChunk = last;
    if (!sequential) return;
    const window = Math.min(this.readahead, this.run - 2);
    const end = Math.min(Math.ceil(this.size / this.chunkSize) - 1, last + 4 * this.readahead);
    let room = Math.floor(this.cache.freeBytes / this.chunkSize);
    for (let i = last + 1, ahead = 0; i <= end && ahead < window && room > 0; i++) {
      if (this.holds && !this.holds(i)) continue;
      ahead++;
      if (this.chunks.has(i)) continue;
      this.load(i).catch(() => undefined);
      room--;
    }
  }

  async close(): Promise<void> {
    this.chunks.clear();
    await this.inner.close();
  }
}
