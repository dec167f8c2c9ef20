/**
 * The one block cache of mountfs. Every reader keeps metadata it will ask for again
 * (ext4 and XFS metadata blocks, qcow2 L1/L2 and VMDK grain-table pages, decompressed
 * clusters, the byte source's aligned chunks), and an image is attacker-sized, so what
 * they keep must have one bound, in bytes, whatever the disk and however many layers
 * it has. Each reader takes its own region (its keys are its own numbers); the regions
 * of one cache share its byte budget and one least-recently-used order, so the layer
 * used most keeps the most. Loads in flight are shared (concurrent asks of one block
 * cost one read) and count against the budget at the size they were asked for; a
 * failed load is forgotten, so the next ask tries the medium again. Hits, misses and
 * evictions are counted, for tests and for telling a too-small cache from a cold one.
 */

/** One cached block, linked into the cache's recency list (most recent at the head). */
interface Entry {
  region: CacheRegion;
  key: number;
  value: Promise<Buffer>;
  cost: number;
  newer: Entry | null;
  older: Entry | null;
}

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Bytes held now, loads in flight included. */
  bytes: number;
  entries: number;
}

/** The default bound when nothing sets one: metadata of a busy walk, a few layers deep. */
export const DEFAULT_CACHE_BYTES = 64 << 20;
/** The bound of a reader opened on its own, outside an opened target's cache. */
export const READER_CACHE_BYTES = 8 << 20;

/** The cache a reader was given, or one of its own when it is opened alone. */
export const cacheOrOwn = (cache: BlockCache | undefined): BlockCache => cache ?? new BlockCache(READER_CACHE_BYTES);

export class BlockCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, evictions: 0, bytes: 0, entries: 0 };
  private newest: Entry | null = null;
  private oldest: Entry | null = null;

  constructor(readonly maxBytes: number = DEFAULT_CACHE_BYTES) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`cache size ${maxBytes} is not a positive number of bytes`);
  }

  /** A namespace of this cache for one reader; `name` says whose it is in debugging. */
  region(name: string): CacheRegion {
    return new CacheRegion(this, name);
  }

  /** Bytes the budget still has room for, without evicting anything. */
  get freeBytes(): number {
    return Math.max(0, this.maxBytes - this.stats.bytes);
  }

  /** @internal */
  lookup(region: CacheRegion, key: number): Entry | undefined {
    const entry = region.entries.get(key);
    if (!entry) return undefined;
    this.stats.hits++;
    region.hits++;
    this.unlink(entry);
    this.linkNewest(entry);
    return entry;
  }

  /** @internal */
  insert(region: CacheRegion, key: number, cost: number, value: Promise<Buffer>): void {
    this.stats.misses++;
    region.misses++;
    // A block larger than the whole budget is read but not kept.
    if (cost > this.maxBytes) return;
    const entry: Entry = { region, key, value, cost, newer: null, older: null };
    region.entries.set(key, entry);
    this.linkNewest(entry);
    this.stats.bytes += cost;
    this.stats.entries++;
    while (this.stats.bytes > this.maxBytes && this.oldest && this.oldest !== entry) {
      this.stats.evictions++;
      this.remove(this.oldest);
    }
    value.catch(() => {
      if (region.entries.get(key) === entry) this.remove(entry);
    });
  }

  /** @internal */
  remove(entry: Entry): void {
    entry.region.entries.delete(entry.key);
    this.unlink(entry);
    this.stats.bytes -= entry.cost;
    this.stats.entries--;
  }

  private linkNewest(entry: Entry): void {
    entry.older = this.newest;
    entry.newer = null;
    if (this.newest) this.newest.newer = entry;
    this.newest = entry;
    if (!this.oldest) this.oldest = entry;
  }

  private unlink(entry: Entry): void {
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    entry.newer = entry.older = null;
  }
}

/** One reader's view of a BlockCache: its keys are block numbers or offsets of its own. */
export class CacheRegion {
  /** @internal */
  readonly entries = new Map<number, Entry>();
  /** This region's share of the cache's hits and misses. */
  hits = 0;
  misses = 0;

  constructor(
    readonly cache: BlockCache,
    readonly name: string,
  ) {}

  /** Entries this region holds now. */
  get size(): number {
    return this.entries.size;
  }

  has(key: number): boolean {
    return this.entries.has(key);
  }

  /**
   * The block under `key`, loaded with `load` on a miss; `cost` is the bytes it will
   * hold (the size asked for). Callers get the cached buffer itself: never write to it.
   */
  get(key: number, cost: number, load: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.cache.lookup(this, key);
    if (hit) return hit.value;
    const value = load();
    this.cache.insert(this, key, cost, value);
    return value;
  }

  /** Drops what this region holds (a reader closing), leaving the other regions alone. */
  clear(): void {
    for (const entry of [...this.entries.values()]) this.cache.remove(entry);
  }
}
