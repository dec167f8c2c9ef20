/**
 * An in-memory ByteSource for tests: damaged images made in memory, fuzzing without
 * touching the disk, and counting the reads a wrapper passes on.
 */
import type { ByteSource } from '../../mountfs/sources/byte-source.js';

export class BufferSource implements ByteSource {
  /** Every read asked of this source, in order. */
  readonly reads: Array<{ offset: number; length: number }> = [];

  constructor(private readonly bytes: Buffer, readonly description = 'memory') {}

  get size(): number {
    return this.bytes.length;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.reads.push({ offset, length });
    const end = Math.min(this.bytes.length, offset + length);
    return Buffer.from(this.bytes.subarray(Math.min(offset, end), end));
  }

  async close(): Promise<void> {}
}
