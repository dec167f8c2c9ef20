/**
 * The bottom layer: a random-access, read-only run of bytes (an image file, a block
 * device, a partition of either, later a qcow2 or a cloud snapshot). Everything above
 * asks for ranges; nothing reads a whole source.
 */
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

/** Counts every byte that leaves the underlying medium, for `stats.bytesRead`. */
export interface ReadCounter {
  bytesRead: number;
}
