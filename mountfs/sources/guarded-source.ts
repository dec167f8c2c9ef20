/**
 * A byte source that asks before every read whether the scan may go on. A time budget
 * or a cancelled run then stops whatever parser loop is reading (a partition table, a
 * single-pass archive, a decompression) at its next read, without any reader knowing
 * why: the checkpoint throws, the reader fails as on any read error, and the caller
 * that owns the checkpoint knows it was a stop.
 */
import type { ByteSource } from './byte-source.js';

export class GuardedByteSource implements ByteSource {
  readonly description: string;
  readonly size: number;

  constructor(private readonly inner: ByteSource, private readonly checkpoint: () => void) {
    this.description = inner.description;
    this.size = inner.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.checkpoint();
    return this.inner.read(offset, length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

