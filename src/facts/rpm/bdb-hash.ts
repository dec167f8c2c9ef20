/**
 * Reads the key/value pairs of a Berkeley DB hash database, the format of rpm's
 * `Packages` on RHEL/CentOS <= 8, Amazon Linux 2 and SUSE <= 15.3. No maintained
 * JavaScript reader exists, so this is minescan's own, written from the public format
 * descriptions (Berkeley DB's db_page.h and hash.h; rpm's read-only lib/backend/bdb_ro.c
 * describes the same subset): a metadata page (magic, byte order, page size, bucket
 * masks, spares), bucket pages chained by next_pgno holding key/data item pairs,
 * H_KEYDATA items stored on the page and H_OFFPAGE items in chains of overflow pages.
 *
 * Pages are read one at a time through a caller's reader, never the whole file. Every
 * page is visited at most once, which bounds the work by the file size and turns any
 * pointer loop into a typed error naming the page. A damaged bucket chain or overflow
 * chain is reported and skipped; the other buckets are still read.
 */
import { BinaryView } from '../../../mountfs/binary.js';
import { MountfsError, corrupt, limitExceeded, unsupported } from '../../../mountfs/errors.js';

const HASH_MAGIC = 0x061561;
const BTREE_MAGIC = 0x053162;
const SIZEOF_PAGE = 26;
/** DBMETA_CHKSUM: every page carries 2 pad bytes and a 4-byte checksum after the header (PG_CHKSUM), moving the items. */
const META_CHECKSUM_FLAG = 0x01;
const CHECKSUM_BYTES = 6;

const P_HASH_UNSORTED = 2; // hash version 8 (Berkeley DB < 4.6)
const P_OVERFLOW = 7;
const P_HASHMETA = 8;
const P_HASH = 13;

const H_KEYDATA = 1;
const H_OFFPAGE = 3;

/** Larger than any rpm header rpm itself would load (hdrchkData allows 256 MiB, real ones are a few MiB). */
export const MAX_BDB_VALUE_BYTES = 64 * 1024 * 1024;
/** After this many damaged chains the file is given up: a report needs the first few, not one per page. */
const MAX_ERRORS = 100;

export interface BdbRecord {
  key: Buffer;
  value: Buffer;
  /** Page holding the item pair, for messages about the value. */
  page: number;
}

export interface PageSource {
  /** Up to `length` bytes at `offset`; fewer at the end of the file. */
  read(offset: number, length: number): Promise<Buffer>;
  readonly size: number;
}

interface Meta {
  littleEndian: boolean;
  pageSize: number;
  lastPage: number;
  maxBucket: number;
  spares: number[];
  /** Where item indexes and overflow data start on each page. */
  overhead: number;
}

/** A page with byte-order-aware, bounds-checked field access. */
class Page {
  constructor(readonly view: BinaryView, readonly number: number, private readonly le: boolean) {}
  u16(o: number): number { return this.le ? this.view.u16le(o) : this.view.u16be(o); }
  u32(o: number): number { return this.le ? this.view.u32le(o) : this.view.u32be(o); }
  get type(): number { return this.view.u8(25); }
  get next(): number { return this.u32(16); }
  get entries(): number { return this.u16(20); }
  get highFree(): number { return this.u16(22); }
}

export class BdbHashReader {
  private readonly visited = new Set<number>();

  private constructor(private readonly source: PageSource, private readonly meta: Meta, private readonly structure: string) {}

  /** Reads and checks the metadata page; throws a typed error for anything but a hash database minescan can read. */
  static async open(source: PageSource, structure = 'Berkeley DB'): Promise<BdbHashReader> {
    const head = new BinaryView(await source.read(0, 512), `${structure} metadata page`, 0);
    if (head.length < 512) throw corrupt(head.structure, `file of ${source.size} bytes is shorter than a metadata page`, 0);
    let littleEndian: boolean;
    if (head.u32le(12) === HASH_MAGIC) littleEndian = true;
    else if (head.u32be(12) === HASH_MAGIC) littleEndian = false;
    else if (head.u32le(12) === BTREE_MAGIC || head.u32be(12) === BTREE_MAGIC) {
      throw unsupported(head.structure, 'a btree database; rpm keeps Packages as a hash database', 12);
    } else throw corrupt(head.structure, 'no Berkeley DB hash magic', 12);
    const u32 = (o: number): number => (littleEndian ? head.u32le(o) : head.u32be(o));

    const version = u32(16);
    if (version < 8 || version > 10) throw unsupported(head.structure, `hash version ${version}`, 16);
    const pageSize = u32(20);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw corrupt(head.structure, `page size ${pageSize}`, 20);
    }
    if (head.u8(24) !== 0) throw unsupported(head.structure, 'an encrypted database', 24);
    if (head.u8(25) !== P_HASHMETA) throw corrupt(head.structure, `page type ${head.u8(25)} where the hash metadata page belongs`, 25);
    const lastPage = u32(32);
    if ((lastPage + 1) * pageSize > source.size) {
      throw corrupt(head.structure, `last page ${lastPage} of ${pageSize} bytes lies beyond the ${source.size}-byte file (truncated?)`, 32);
    }
    const maxBucket = u32(72);
    if (maxBucket > lastPage) throw corrupt(head.structure, `${maxBucket + 1} buckets in ${lastPage + 1} pages`, 72);
    const spares = Array.from({ length: 32 }, (_, i) => u32(96 + i * 4));
    const overhead = SIZEOF_PAGE + ((head.u8(26) & META_CHECKSUM_FLAG) !== 0 ? CHECKSUM_BYTES : 0);
    return new BdbHashReader(source, { littleEndian, pageSize, lastPage, maxBucket, spares, overhead }, structure);
  }

  get pageSize(): number {
    return this.meta.pageSize;
  }

  get littleEndian(): boolean {
    return this.meta.littleEndian;
  }

  /** Every key/value pair, bucket by bucket; damaged chains go to onError and are skipped. */
  async *records(report: (err: MountfsError) => void): AsyncGenerator<BdbRecord> {
    this.visited.clear();
    let errors = 0;
    const onError = (err: MountfsError): void => {
      errors++;
      report(err);
    };
    for (let bucket = 0; bucket <= this.meta.maxBucket; bucket++) {
      if (errors >= MAX_ERRORS) {
        report(limitExceeded(this.structure, `${errors} damaged page chains; buckets ${bucket}..${this.meta.maxBucket} not read`));
        return;
      }
      let pageNumber = this.bucketPage(bucket);
      try {
        while (pageNumber !== 0) {
          const page = await this.page(pageNumber, [P_HASH, P_HASH_UNSORTED]);
          yield* this.pageRecords(page, onError);
          pageNumber = page.next;
        }
      } catch (err) {
        if (!(err instanceof MountfsError)) throw err;
        onError(err);
      }
    }
  }

  /** Bucket b lives at page b + spares[number of bits in b] (hash.h BUCKET_TO_PAGE). */
  private bucketPage(bucket: number): number {
    const bits = bucket === 0 ? 0 : 32 - Math.clz32(bucket);
    return bucket + (this.meta.spares[bits] ?? 0);
  }

  private async *pageRecords(page: Page, onError: (err: MountfsError) => void): AsyncGenerator<BdbRecord> {
    const { pageSize, overhead } = this.meta;
    const n = page.entries;
    if (n % 2 !== 0 || overhead + n * 2 > pageSize) throw this.pageError(page, `${n} item indexes`, 20);
    const offsets = Array.from({ length: n }, (_, i) => page.u16(overhead + i * 2));
    for (let i = 0; i < n; i += 2) {
      try {
        const key = await this.item(page, offsets, i);
        const value = await this.item(page, offsets, i + 1);
        yield { key, value, page: page.number };
      } catch (err) {
        if (!(err instanceof MountfsError)) throw err;
        onError(err);
      }
    }
  }

  /** Items fill the page from its end: item i ends where item i-1 starts. */
  private async item(page: Page, offsets: number[], i: number): Promise<Buffer> {
    const start = offsets[i];
    const end = i === 0 ? this.meta.pageSize : offsets[i - 1];
    const minStart = this.meta.overhead + offsets.length * 2;
    if (start < minStart || end > this.meta.pageSize || start >= end) {
      throw this.pageError(page, `item ${i} spans ${start}..${end}`, this.meta.overhead + i * 2);
    }
    const type = page.view.u8(start);
    if (type === H_KEYDATA) return page.view.bytes(start + 1, end - start - 1);
    if (type === H_OFFPAGE) {
      if (end - start !== 12) throw this.pageError(page, `off-page item ${i} of ${end - start} bytes`, start);
      return this.overflow(page.u32(start + 4), page.u32(start + 8));
    }
    throw unsupported(this.structure, `page ${page.number}: item ${i} of type ${type} (duplicates are not used by rpm)`, page.view.baseOffset + start);
  }

  /** An off-page value: a chain of overflow pages, each holding highFree bytes after the header. */
  private async overflow(first: number, total: number): Promise<Buffer> {
    if (total > MAX_BDB_VALUE_BYTES) throw limitExceeded(this.structure, `off-page value of ${total} bytes at page ${first}`);
    const out = Buffer.alloc(total);
    let filled = 0;
    let pageNumber = first;
    while (filled < total) {
      if (pageNumber === 0) throw corrupt(this.structure, `overflow chain from page ${first} ends after ${filled} of ${total} bytes`);
      const page = await this.page(pageNumber, [P_OVERFLOW]);
      const length = page.highFree;
      if (length === 0 || length > this.meta.pageSize - this.meta.overhead || length > total - filled) {
        throw this.pageError(page, `overflow page holds ${length} bytes, ${total - filled} still expected`, 22);
      }
      page.view.bytes(this.meta.overhead, length).copy(out, filled);
      filled += length;
      pageNumber = page.next;
    }
    return out;
  }

  private async page(number: number, types: number[]): Promise<Page> {
    const { pageSize, lastPage, littleEndian } = this.meta;
    const offset = number * pageSize;
    if (number < 1 || number > lastPage) throw corrupt(this.structure, `page pointer ${number} outside pages 1..${lastPage}`);
    if (this.visited.has(number)) throw corrupt(this.structure, `page ${number} reached twice (loop in a page chain)`, offset);
    this.visited.add(number);
    const bytes = await this.source.read(offset, pageSize);
    if (bytes.length < pageSize) throw corrupt(this.structure, `page ${number} cut short at ${bytes.length} bytes`, offset);
    const page = new Page(new BinaryView(bytes, `${this.structure} page ${number}`, offset), number, littleEndian);
    if (page.u32(8) !== number) throw this.pageError(page, `page claims to be page ${page.u32(8)}`, 8);
    if (!types.includes(page.type)) throw this.pageError(page, `page type ${page.type}, expected ${types.join(' or ')}`, 25);
    return page;
  }

  private pageError(page: Page, message: string, at: number): MountfsError {
    return corrupt(page.view.structure, message, page.view.baseOffset + at);
  }
}
