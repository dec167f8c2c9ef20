/**
 * One-shot decompression of a single compressed cluster or grain (qcow2 compressed
 * clusters, VMDK stream-optimized grains) with a hard cap on the output: the container
 * formats say how large a cluster is, so anything that inflates past that is damage or
 * a decompression bomb and stops at the cap, before it can allocate more.
 *
 * - 'deflate-raw': RFC 1951 without a wrapper (qcow2 zlib clusters, per QEMU's
 *   docs/interop/qcow2.txt); 'zlib': RFC 1950 (VMDK grains, VMware Virtual Disk
 *   Format 1.1). Node's zlib with maxOutputLength enforces the cap; bytes after the
 *   end of the stream are ignored, as both formats allow (a compressed cluster's last
 *   sector may hold the start of the next one).
 * - 'zstd': RFC 8878 frames, decoded by fzstd (Node 20's zlib has no zstd). fzstd
 *   trusts the frame header for its allocations and rejects trailing bytes, so the
 *   frame is walked here first: window and content sizes are checked against the cap,
 *   the regenerated size is bounded from the block headers, and only the frame itself
 *   is handed over.
 */
import { constants, inflateRawSync, inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { corrupt, MountfsError } from '../errors.js';

export type InflateFormat = 'deflate-raw' | 'zlib' | 'zstd';

export interface InflateWhere {
  /** Structure named in errors, e.g. "qcow2 compressed cluster". */
  structure: string;
  /** Absolute offset of the compressed bytes in their file. */
  offset: number;
}

/**
 * Decompresses `input` to at most `maxOutput` bytes. Throws a corrupt MountfsError when
 * the data is damaged or would inflate past the cap. Output shorter than the cap is
 * returned as is: callers check the exact size their format requires.
 */
export function inflateBounded(input: Buffer, format: InflateFormat, maxOutput: number, where: InflateWhere): Buffer {
  if (format === 'zstd') return inflateZstd(input, maxOutput, where);
  try {
    // Z_SYNC_FLUSH: a stream cut short returns what it decoded instead of throwing, so
    // the caller's size check reports the truncation with the right numbers.
    const options = { maxOutputLength: Math.max(1, maxOutput), finishFlush: constants.Z_SYNC_FLUSH };
    return format === 'zlib' ? inflateSync(input, options) : inflateRawSync(input, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw corrupt(where.structure, `inflates to more than ${maxOutput} bytes`, where.offset);
    }
    throw corrupt(where.structure, `${format} data is damaged (${(err as Error).message})`, where.offset);
  }
}

/** The largest block a zstd decoder may regenerate (RFC 8878 Block_Maximum_Size). */
const ZSTD_BLOCK_MAX = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

function inflateZstd(input: Buffer, maxOutput: number, where: InflateWhere): Buffer {
  const frame = walkZstdFrame(input, maxOutput, where);
  try {
    const out = zstdDecompress(new Uint8Array(input.buffer, input.byteOffset, frame.length));
    if (out.length > maxOutput) throw corrupt(where.structure, `inflates to more than ${maxOutput} bytes`, where.offset);
    return Buffer.from(out.buffer, out.byteOffset, out.length);
  } catch (err) {
    if (err instanceof MountfsError) throw err;
    throw corrupt(where.structure, `zstd data is damaged (${(err as Error).message})`, where.offset);
  }
}

/**
 * Checks the first zstd frame of `input` against `maxOutput` and returns its length in
 * bytes. Refuses dictionaries (qemu never writes them), reserved bits and block types,
 * and frames whose header or blocks could make the decoder allocate past the cap.
 */
function walkZstdFrame(input: Buffer, maxOutput: number, where: InflateWhere): { length: number } {
  const fail = (what: string, at: number) => corrupt(where.structure, `zstd frame: ${what}`, where.offset + at);
  const need = (at: number, n: number) => {
    if (at + n > input.length) throw fail(`ends after ${input.length} bytes, inside the frame`, input.length);
  };
  need(0, 6);
  if (input.readUInt32LE(0) !== ZSTD_MAGIC) throw fail('no zstd magic number', 0);
  const fhd = input[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  if (fhd & 0x08) throw fail('reserved bit set in the frame header descriptor', 4);
  let at = 5;
  let windowSize = 0;
  if (!singleSegment) {
    const wd = input[at]!;
    const base = 2 ** (10 + (wd >> 3));
    windowSize = base + (base / 8) * (wd & 7);
    at += 1;
  }
  const dictBytes = [0, 1, 2, 4][dictFlag]!;
  need(at, dictBytes);
  for (let i = 0; i < dictBytes; i++) {
    if (input[at + i] !== 0) throw fail('uses a dictionary', at);
  }
  at += dictBytes;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  need(at, fcsBytes);
  let contentSize: number | null = null;
  if (fcsBytes > 0) {
    let v = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + input[at + i]!;
    contentSize = fcsBytes === 2 ? v + 256 : v;
    at += fcsBytes;
  }
  if (singleSegment) windowSize = contentSize ?? 0;
  if (contentSize !== null && contentSize > maxOutput) throw fail(`declares ${contentSize} bytes of content, more than the ${maxOutput} allowed`, 5);
  // A window larger than the content is legal but useless; one far larger is an allocation attack.
  const windowCap = Math.max(4 * maxOutput, 1 << 20);
  if (windowSize > windowCap) throw fail(`window of ${windowSize} bytes is larger than ${windowCap}`, 5);

  const blockMax = Math.min(ZSTD_BLOCK_MAX, Math.max(windowSize, 1));
  // Regenerated bytes: exact for raw and RLE blocks, at most blockMax for compressed ones.
  let bound = 0;
  const boundCap = 2 * maxOutput + 2 * ZSTD_BLOCK_MAX;
  for (;;) {
    need(at, 3);
    const h = input[at]! | (input[at + 1]! << 8) | (input[at + 2]! << 16);
    const last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    const headerAt = at;
    at += 3;
    if (type === 3) throw fail('reserved block type', headerAt);
    if (type === 2 && size > blockMax) throw fail(`compressed block of ${size} bytes exceeds the ${blockMax}-byte maximum`, headerAt);
    const stored = type === 1 ? 1 : size;
    need(at, stored);
    at += stored;
    bound += type === 2 ? blockMax : size;
    if (bound > boundCap) throw fail(`blocks may regenerate more than ${boundCap} bytes`, headerAt);
    if (last) break;
  }
  if (checksum) {
    need(at, 4);
    at += 4;
  }
  return { length: at };
}
