/**
 * qcow2 cluster mapping (QEMU docs/interop/qcow2.txt "Cluster mapping" and "Extended
 * L2 Entries"): guest cluster → L1 entry → L2 table → cluster descriptor. The L1 table
 * is read in 4 KiB pages and L2 tables in 4 KiB slices, both kept in the block cache
 * (mountfs/block-cache.ts), so a lookup costs at most two small reads however large the
 * disk, and what is kept stays within the cache's bound. Every offset taken
 * from a table is checked for alignment and against the file size before it is used.
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import type { Qcow2Header } from './header.js';
import type { BlockCache, CacheRegion } from '../../block-cache.js';

/** Bits 9-55: an L2 table or data cluster offset. */
const OFFSET_MASK = 0x00ff_ffff_ffff_fe00n;
const COMPRESSED_FLAG = 1n << 62n;
const ZERO_FLAG = 1n;
const PAGE_BYTES = 4096;

/** Where one guest cluster's bytes come from. */
export type ClusterMapping =
  /** Not in this image: the backing file, or zeros. */
  | { kind: 'unallocated' }
  | { kind: 'zero' }
  /** The whole cluster is stored at `host`. */
  | { kind: 'data'; host: number }
  /** `length` bytes at `host` inflate to one cluster. */
  | { kind: 'compressed'; host: number; length: number }
  /** Extended L2: bit i of `allocated` says subcluster i is at host + i*subcluster; of `zero`, that it reads as zeros. */
  | { kind: 'subclusters'; host: number; allocated: number; zero: number };

export class Qcow2Tables {
  private readonly l1Pages: CacheRegion;
  private readonly l2Slices: CacheRegion;
  private readonly sliceBytes: number;

  constructor(private readonly inner: ByteSource, private readonly header: Qcow2Header, cache: BlockCache) {
    this.sliceBytes = Math.min(header.clusterSize, PAGE_BYTES);
    this.l1Pages = cache.region('qcow2 L1 pages');
    this.l2Slices = cache.region('qcow2 L2 slices');
  }

  async lookup(guestCluster: number): Promise<ClusterMapping> {
    const h = this.header;
    const l1Index = Math.floor(guestCluster / h.l2Entries);
    if (l1Index >= h.l1Size) return { kind: 'unallocated' };
    const l2Offset = await this.l1Entry(l1Index);
    if (l2Offset === 0) return { kind: 'unallocated' };

    const l2Index = guestCluster % h.l2Entries;
    const perSlice = this.sliceBytes / h.l2EntryBytes;
    const sliceStart = l2Offset + Math.floor(l2Index / perSlice) * this.sliceBytes;
    const slice = await this.l2Slices.get(sliceStart, this.sliceBytes, () => this.readTable(sliceStart, this.sliceBytes, 'qcow2 L2 table'));
    const within = (l2Index % perSlice) * h.l2EntryBytes;
    const entry = slice.readBigUInt64BE(within);
    const bitmap = h.extendedL2 ? slice.readBigUInt64BE(within + 8) : null;
    return decodeL2Entry(entry, bitmap, h, this.inner.size, sliceStart + within);
  }

  clear(): void {
    this.l1Pages.clear();
    this.l2Slices.clear();
  }

  /** The L2 table offset of one L1 entry (0: unallocated), checked. */
  private async l1Entry(index: number): Promise<number> {
    const h = this.header;
    const perPage = PAGE_BYTES / 8;
    const page = Math.floor(index / perPage);
    const pageStart = h.l1TableOffset + page * PAGE_BYTES;
    const pageBytes = Math.min(PAGE_BYTES, (h.l1Size - page * perPage) * 8);
    const buf = await this.l1Pages.get(page, pageBytes, () => this.readTable(pageStart, pageBytes, 'qcow2 L1 table'));
    const at = h.l1TableOffset + index * 8;
    const offset = buf.readBigUInt64BE((index % perPage) * 8) & OFFSET_MASK;
    if (offset === 0n) return 0;
    if (offset % BigInt(h.clusterSize) !== 0n) throw corrupt('qcow2 L1 table', `L2 table offset 0x${offset.toString(16)} is not cluster-aligned`, at);
    if (offset + BigInt(h.clusterSize) > BigInt(this.inner.size)) {
      throw corrupt('qcow2 L1 table', `L2 table at ${offset} runs past the end of the ${this.inner.size}-byte file`, at);
    }
    return Number(offset);
  }

  private async readTable(at: number, length: number, structure: string): Promise<Buffer> {
    const buf = await this.inner.read(at, length);
    if (buf.length < length) throw corrupt(structure, 'the file ends inside the table', at + buf.length);
    return buf;
  }
}

/** Decodes one L2 entry (and its subcluster bitmap with extended L2), checking it against the file. */
export function decodeL2Entry(entry: bigint, bitmap: bigint | null, h: Qcow2Header, fileSize: number, at: number): ClusterMapping {
  const file = BigInt(fileSize);
  if (entry & COMPRESSED_FLAG) {
    // Descriptor bits 0..x-1: byte offset; x..61: additional 512-byte sectors.
    const x = BigInt(62 - (h.clusterBits - 8));
    const host = entry & ((1n << x) - 1n);
    const extraSectors = Number((entry >> x) & ((1n << (62n - x)) - 1n));
    if (host >= file) throw corrupt('qcow2 L2 table', `compressed cluster at ${host} is past the end of the ${fileSize}-byte file`, at);
    const hostN = Number(host);
    return { kind: 'compressed', host: hostN, length: (extraSectors + 1) * 512 - (hostN % 512) };
  }
  const offset = entry & OFFSET_MASK;
  const checkOffset = (): number => {
    if (offset % BigInt(h.clusterSize) !== 0n) throw corrupt('qcow2 L2 table', `data cluster offset 0x${offset.toString(16)} is not cluster-aligned`, at);
    if (offset >= file) throw corrupt('qcow2 L2 table', `data cluster at ${offset} is past the end of the ${fileSize}-byte file`, at);
    return Number(offset);
  };
  if (bitmap !== null) {
    const allocated = Number(bitmap & 0xffff_ffffn);
    const zero = Number(bitmap >> 32n);
    if ((allocated & zero) !== 0) throw corrupt('qcow2 L2 table', 'a subcluster is marked both allocated and zero', at + 8);
    if (allocated === 0) return zero === 0 ? { kind: 'unallocated' } : zero === -1 >>> 0 ? { kind: 'zero' } : { kind: 'subclusters', host: 0, allocated, zero };
    if (offset === 0n) throw corrupt('qcow2 L2 table', 'allocated subclusters without a host cluster offset', at);
    return { kind: 'subclusters', host: checkOffset(), allocated, zero };
  }
  if (entry & ZERO_FLAG) {
    if (h.version === 2) throw corrupt('qcow2 L2 table', 'the zero-cluster flag is set in a version 2 image', at);
    return { kind: 'zero' };
  }
  if (offset === 0n) return { kind: 'unallocated' };
  return { kind: 'data', host: checkOffset() };
}
