/**
 * A small LRU of loads in flight or done, keyed by offset: the qcow2 and VMDK readers
 * keep their recently used table pages and decompressed clusters here, so memory stays
 * bounded whatever the disk size, and concurrent reads of one table share one read.
 * A failed load is forgotten, so the next request tries again. (Shared by the qcow2 and
 * VMDK readers; it lives beside the first of them.)
 */
export class TableCache<V> {
  private readonly entries = new Map<number, Promise<V>>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: number, load: () => Promise<V>): Promise<V> {
    let p = this.entries.get(key);
    if (p) {
      this.entries.delete(key);
      this.entries.set(key, p);
      return p;
    }
    p = load();
    this.entries.set(key, p);
    const stored = p;
    p.catch(() => {
      if (this.entries.get(key) === stored) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return p;
  }

  clear(): void {
    this.entries.clear();
  }
}
