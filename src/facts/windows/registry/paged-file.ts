/**
 * Range reads of one hive file in fixed pages, kept in a small LRU, so the hive reader
 * can follow cell offsets anywhere in a SOFTWARE hive of a hundred megabytes while
 * holding at most a few megabytes of it: a lookup touches a handful of cells, and the
 * cells of one key usually sit in the same page.
 */
import { corrupt } from '../../../../mountfs/errors.js';
import type { Patch } from './transaction-log.js';

/** Reads `length` bytes at `offset` of the file; may return fewer at its end. */
export type RangeReader = (offset: number, length: number) => Promise<Buffer>;

const PAGE = 16 * 1024;
/** Pages kept per hive: 8 MiB. */
const MAX_PAGES = 512;

/** Where the hive bins data starts in the file: patches are relative to it. */
const HIVE_BINS_START = 4096;

export class PagedFile {
  private pages = new Map<number, Buffer>();
  /** Page index to the patches over it, in the order they apply. */
  private patchesByPage = new Map<number, Patch[]>();
  /** Bytes read from the file, for tests that bound the work. */
  bytesRead = 0;

  /**
   * `size` is what the reader may address; `fileSize` what the file holds (a replayed
   * log may grow the hive past it); `patches` (replayed log pages) lie over the file.
   */
  constructor(
    private readonly readRange: RangeReader,
    readonly size: number,
    private readonly structure: string,
    private readonly fileSize = size,
    patches: readonly Patch[] = [],
  ) {
    for (const p of patches) {
      const start = HIVE_BINS_START + p.offset;
      for (let page = Math.floor(start / PAGE); page * PAGE < start + p.length; page++) {
        const list = this.patchesByPage.get(page) ?? [];
        list.push(p);
        this.patchesByPage.set(page, list);
      }
    }
  }

  /** Exactly `length` bytes at `offset`, or a corrupt error when the file is shorter. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw corrupt(this.structure, `read of ${length} bytes is past the end of the ${this.size}-byte file`, offset);
    }
    const first = Math.floor(offset / PAGE);
    const last = Math.floor((offset + length - 1) / PAGE);
    if (length === 0) return Buffer.alloc(0);
    if (first === last) {
      const page = await this.page(first);
      return page.subarray(offset - first * PAGE, offset - first * PAGE + length);
    }
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    for (let p = first; p <= last; p++) {
      const page = await this.page(p);
      const from = p === first ? offset - first * PAGE : 0;
      const n = Math.min(page.length - from, length - done);
      page.copy(out, done, from, from + n);
      done += n;
    }
    return out;
  }

  private async page(index: number): Promise<Buffer> {
    const hit = this.pages.get(index);
    if (hit) {
      this.pages.delete(index);
      this.pages.set(index, hit);
      return hit;
    }
    const start = index * PAGE;
    const want = Math.min(PAGE, this.size - start);
    const fromFile = Math.max(0, Math.min(want, this.fileSize - start));
    let buf = fromFile > 0 ? await this.readRange(start, fromFile) : Buffer.alloc(0);
    this.bytesRead += buf.length;
    if (buf.length < fromFile) throw corrupt(this.structure, `the file ends ${fromFile - buf.length} bytes early`, start + buf.length);
    const patches = this.patchesByPage.get(index);
    if (patches || buf.length < want) {
      const whole = Buffer.alloc(want);
      buf.copy(whole);
      for (const p of patches ?? []) {
        const from = Math.max(start, HIVE_BINS_START + p.offset);
        const to = Math.min(start + want, HIVE_BINS_START + p.offset + p.length);
        if (to <= from) continue;
        const bytes = await p.log.read(p.logOffset + (from - HIVE_BINS_START - p.offset), to - from);
        if (bytes.length < to - from) throw corrupt('registry transaction log', `${p.log.label} ends inside a dirty page`, p.logOffset);
        bytes.copy(whole, from - start);
      }
      buf = whole;
    }
    this.pages.set(index, buf);
    if (this.pages.size > MAX_PAGES) this.pages.delete(this.pages.keys().next().value!);
    return buf;
  }
}
