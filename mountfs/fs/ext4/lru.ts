/**
 * A bounded least-recently-used map of parsed objects. The ext4 reader keeps parsed
 * inodes, group descriptors and per-inode extent state to avoid parsing them again
 * (raw blocks live in the block cache, mountfs/block-cache.ts), but an image is
 * attacker-sized, so each map has a hard ceiling: each entry has a cost (bytes, or 1)
 * and the oldest entries go once the total passes the limit.
 * A JavaScript Map iterates in insertion order, so re-inserting on every hit keeps the
 * least recently used entry first.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, { value: V; cost: number }>();
  private total = 0;

  constructor(
    private readonly limit: number,
    private readonly costOf: (value: V) => number = () => 1,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: K, value: V): void {
    const old = this.entries.get(key);
    if (old) {
      this.total -= old.cost;
      this.entries.delete(key);
    }
    const cost = this.costOf(value);
    // An entry bigger than the whole cache is not kept at all.
    if (cost > this.limit) return;
    this.entries.set(key, { value, cost });
    this.total += cost;
    for (const [oldestKey, oldest] of this.entries) {
      if (this.total <= this.limit) break;
      this.entries.delete(oldestKey);
      this.total -= oldest.cost;
    }
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}
