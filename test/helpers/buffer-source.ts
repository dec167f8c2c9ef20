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

/** Counts the bytes and reads that pass through to another source. */
export class CountingSource implements ByteSource {
  bytesRead = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  get description(): string {
    return this.inner.description;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const got = await this.inner.read(offset, length);
    this.reads++;
    this.bytesRead += got.length;
    return got;
  }
  reset(): void {
    this.bytesRead = 0;
    this.reads = 0;
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}
