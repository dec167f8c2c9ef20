/**
 * A VHDX image (Hyper-V, Azure) read as the virtual disk it holds, following MS-VHDX:
 * the current header, the region table, the metadata items, then payload blocks through
 * the block allocation table. Blocks not present, zeroed, unmapped or undefined read as
 * zeros. The log is never replayed (minescan does not write): when the header says it
 * holds entries, notes() tells that the newest writes may be missing. Differencing
 * disks (HasParent) are refused, since their parent locator and sector bitmaps are not
 * read yet.
 */
import { cacheOrOwn, type BlockCache } from '../../block-cache.js';
import { corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { readAcrossBlocks } from '../block-split.js';
import {
  batGeometry,
  BlockAllocationTable,
  PAYLOAD_FULLY_PRESENT,
  PAYLOAD_NOT_PRESENT,
  PAYLOAD_PARTIALLY_PRESENT,
  PAYLOAD_UNDEFINED,
  PAYLOAD_UNMAPPED,
  PAYLOAD_ZERO,
} from './bat.js';
import { isVhdx, logIsEmpty, readCurrentHeader } from './headers.js';
import { readMetadata, type VhdxMetadata } from './metadata.js';
import { readRegions } from './region-table.js';

export { isVhdx };

export class VhdxSource implements ByteSource {
  readonly description: string;
  readonly size: number;

  private constructor(
    private readonly inner: ByteSource,
    readonly metadata: VhdxMetadata,
    private readonly bat: BlockAllocationTable,
    private readonly openNotes: string[],
  ) {
    this.size = metadata.virtualDiskSize;
    this.description = `${inner.description} (VHDX)`;
  }

  /** `cache` keeps table pages (the opened target's); one of its own if absent. */
  static async open(inner: ByteSource, cache?: BlockCache): Promise<VhdxSource> {
    const head = await inner.read(0, 8);
    if (!isVhdx(head)) throw corrupt('VHDX file identifier', 'no "vhdxfile" signature', 0);
    const notes: string[] = [];
    const header = await readCurrentHeader(inner, notes);
    if (!logIsEmpty(header)) notes.push('VHDX log is not empty (the image was not closed cleanly); the log was not replayed');
    const regions = await readRegions(inner, notes);
    const metadata = await readMetadata(inner, regions.metadata);
    if (metadata.hasParent) {
      throw unsupported('VHDX differencing disk', 'its parent disk is needed and differencing VHDX files are not read yet; convert it with qemu-img or Hyper-V first');
    }
    const geometry = batGeometry(metadata.virtualDiskSize, metadata.blockSize, metadata.logicalSectorSize, metadata.hasParent);
    return new VhdxSource(inner, metadata, new BlockAllocationTable(inner, regions.bat, geometry, cacheOrOwn(cache)), notes);
  }

  notes(): string[] {
    return [...this.openNotes];
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (!(end > offset) || offset < 0) return Buffer.alloc(0);
    return readAcrossBlocks(offset, end, this.metadata.blockSize, (b, w, n, out, at) => this.readBlockPiece(b, w, n, out, at));
  }

  /** `inner` belongs to whoever opened it. */
  async close(): Promise<void> {
    this.bat.clear();
  }

  private async readBlockPiece(block: number, within: number, n: number, out: Buffer, at: number): Promise<void> {
    const entry = await this.bat.payload(block);
    switch (entry.state) {
      case PAYLOAD_NOT_PRESENT:
      case PAYLOAD_UNDEFINED:
      case PAYLOAD_ZERO:
      case PAYLOAD_UNMAPPED:
        return; // zeros: out is zero-filled
      case PAYLOAD_FULLY_PRESENT: {
        const from = entry.fileOffset + within;
        if (entry.fileOffset < 1024 * 1024 || from + n > this.inner.size) {
          throw corrupt('VHDX block allocation table', `payload block ${block} at ${entry.fileOffset} is outside the ${this.inner.size}-byte file`, this.bat.entryOffset(block));
        }
        const got = await this.inner.read(from, n);
        if (got.length < n) throw corrupt('VHDX payload block', 'the file ends inside the block', from + got.length);
        got.copy(out, at);
        return;
      }
      case PAYLOAD_PARTIALLY_PRESENT:
        throw unsupported('VHDX block allocation table', `payload block ${block} is partially present, which only a differencing disk may use`, this.bat.entryOffset(block));
      default:
        throw corrupt('VHDX block allocation table', `payload block ${block} has the reserved state ${entry.state}`, this.bat.entryOffset(block));
    }
  }
}
