/**
 * The bottom layer: a random-access, read-only run of bytes (an image file, a block
 * device, a partition of either, later a qcow2 or a cloud snapshot). Everything above
 * asks for ranges; nothing reads a whole source.
 */
import { ioError } from '../errors.js';

export interface ByteSource {
  /** Human-readable description: a path, "partition 2 of /x.img", "snap-123". */
  readonly description: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset`, or fewer only when the range runs past
   * `size` (the result is then cut at `size`). Never reads past the end.
   */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Where a read of `length` bytes at `offset` ends, cut at the source's size: the one
 * check every source makes of the range it is asked for (a caller's bug, or a size
 * computed from a hostile structure, must fail as an I/O error, not read garbage).
 */
export function readEnd(source: Pick<ByteSource, 'description' | 'size'>, offset: number, length: number): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw ioError(source.description, `invalid read of ${length} bytes at ${offset}`);
  }
  return Math.max(offset, Math.min(source.size, offset + length));
}

/** Counts every byte that leaves the underlying medium, for `stats.bytesRead`. */
export interface ReadCounter {
  bytesRead: number;
}
