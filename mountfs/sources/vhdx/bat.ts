/**
 * The VHDX block allocation table (MS-VHDX 2.5): 64-bit little-endian entries, each a
 * 3-bit state and the block's file offset in MiB. Payload entries are interleaved with
 * sector bitmap entries: after every `chunkRatio` payload entries comes one sector
 * bitmap entry, where chunkRatio = 2^23 * logicalSectorSize / blockSize. The table is
 * read in pages on demand into the block cache, so a 64 TiB disk's table is never
 * held whole.
 */
import type { BlockCache, CacheRegion } from '../../block-cache.js';
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import type { Region } from './region-table.js';

export const PAYLOAD_NOT_PRESENT = 0;
export const PAYLOAD_UNDEFINED = 1;
export const PAYLOAD_ZERO = 2;
export const PAYLOAD_UNMAPPED = 3;
export const PAYLOAD_FULLY_PRESENT = 6;
export const PAYLOAD_PARTIALLY_PRESENT = 7;

const PAGE_ENTRIES = 8192;
const MIB = 1024 * 1024;

export interface BatEntry {
  state: number;
  /** Absolute file offset of the block (meaningful for present blocks only). */
  fileOffset: number;
}

export interface BatGeometry {
  chunkRatio: number;
  payloadBlocks: number;
  /** Entries the table must hold: payload entries plus the interleaved sector bitmap entries. */
  totalEntries: number;
}

export function batGeometry(virtualDiskSize: number, blockSize: number, logicalSectorSize: number, hasParent: boolean): BatGeometry {
  const chunkRatio = (2 ** 23 * logicalSectorSize) / blockSize;
  const payloadBlocks = Math.ceil(virtualDiskSize / blockSize);
  const bitmapBlocks = Math.ceil(payloadBlocks / chunkRatio);
  const totalEntries = hasParent ? bitmapBlocks * (chunkRatio + 1) : payloadBlocks + Math.floor((payloadBlocks - 1) / chunkRatio);
  return { chunkRatio, payloadBlocks, totalEntries };
}

export class BlockAllocationTable {
  private readonly pages: CacheRegion;

  constructor(
    private readonly inner: ByteSource,
    private readonly region: Region,
    readonly geometry: BatGeometry,
    cache: BlockCache,
  ) {
    this.pages = cache.region('VHDX block allocation table pages');
    if (geometry.totalEntries * 8 > region.length) {
      throw corrupt('VHDX block allocation table', `${geometry.totalEntries} entries do not fit the ${region.length}-byte region`, region.offset);
    }
  }

  /** The entry of payload block `block`, skipping the sector bitmap entries before it. */
  async payload(block: number): Promise<BatEntry> {
    const index = block + Math.floor(block / this.geometry.chunkRatio);
    const page = await this.page(Math.floor(index / PAGE_ENTRIES));
    const at = (index % PAGE_ENTRIES) * 8;
    const low = page.readUInt32LE(at);
    const high = page.readUInt32LE(at + 4);
    // FileOffsetMB is bits 20..63: at most 2^44 MiB, which overflows a double's exact range only past 8 PiB.
    const offsetMb = high * 4096 + (low >>> 20);
    const fileOffset = offsetMb * MIB;
    if (!Number.isSafeInteger(fileOffset)) throw corrupt('VHDX block allocation table', `entry ${index} points past any possible file`, this.region.offset + index * 8);
    return { state: low & 7, fileOffset };
  }

  /** Absolute offset of a payload block's entry, for error messages. */
  entryOffset(block: number): number {
    return this.region.offset + (block + Math.floor(block / this.geometry.chunkRatio)) * 8;
  }

  clear(): void {
    this.pages.clear();
  }

  private page(n: number): Promise<Buffer> {
    const first = n * PAGE_ENTRIES;
    const count = Math.min(PAGE_ENTRIES, this.geometry.totalEntries - first);
    const at = this.region.offset + first * 8;
    return this.pages.get(n, count * 8, () =>
      this.inner.read(at, count * 8).then((buf) => {
        if (buf.length < count * 8) throw corrupt('VHDX block allocation table', 'the file ends inside the table', at + buf.length);
        return buf;
      }),
    );
  }
}
