/**
 * A window [start, start+size) of another source: a partition of a disk, an archive
 * member. Clamped to the parent, so a partition table that lies about a partition's
 * end cannot make reads run past the disk, and a window starting past the parent's
 * end is simply empty.
 */
import { ioError } from '../errors.js';
import { readEnd, type ByteSource } from './byte-source.js';

export class SliceByteSource implements ByteSource {
  readonly size: number;

  constructor(
    private readonly parent: ByteSource,
    /** Offset of the window in the parent. */
    readonly start: number,
    size: number,
    /** E.g. "partition 2 of disk.img". */
    readonly description: string,
  ) {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(size) || size < 0) {
      throw ioError(description, `invalid window of ${size} bytes at ${start}`);
    }
    this.size = Math.max(0, Math.min(size, parent.size - start));
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const want = readEnd(this, offset, length) - offset;
    if (want === 0) return Buffer.alloc(0);
    return this.parent.read(this.start + offset, want);
  }

  /** The parent belongs to whoever opened it and is closed by them. */
  async close(): Promise<void> {}
}
