/**
 * Streaming zstd (RFC 8878) with bounded memory. fzstd's streaming decoder trusts the
 * frame header: it allocates the declared window (up to 2 GiB from a 6-byte header),
 * decodes everything it is given in one call, and regenerates RLE blocks of any size
 * the 21-bit block header allows. So the compressed bytes are walked here first, frame
 * by frame and block by block:
 * - a window (or single-segment content size) above 128 MiB is refused: that is the
 *   zstd tool's own default decoder limit (windowLogMax 27), past which it asks for
 *   --memory; dictionaries and reserved bits and block types are refused;
 * - every block must fit Block_Maximum_Size (min(window, 128 KiB)), which bounds what
 *   one block regenerates;
 * - the decoder is handed one block at a time and its output is passed on before the
 *   next, so memory holds the window plus about one block whatever the input;
 * - a block whose Huffman weights fzstd would decode forever is refused
 *   (zstd-huffman.ts).
 * Skippable frames are skipped unread.
 */
import { Decompress } from 'fzstd';
import { corrupt, limitExceeded, unsupported } from '../errors.js';
import { checkHuffmanWeights } from './zstd-huffman.js';

export const ZSTD_WINDOW_CAP = 128 << 20;
/** RFC 8878 Block_Maximum_Size. */
export const ZSTD_BLOCK_MAX = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

/** What a zstd frame header (RFC 8878 3.1.1.1) says, once its magic number is known to be there. */
export interface ZstdFrameHeader {
  /** Bytes of the header, magic number included. */
  length: number;
  /** Window_Size; for a single-segment frame, the content size. */
  window: number;
  contentSize: number | null;
  checksum: boolean;
  /** A non-zero dictionary id. */
  dictionary: boolean;
  /** The reserved bit of the descriptor is set. */
  reserved: boolean;
}

/** The frame header at `at` of `b`, or null when `b` ends inside it. */
export function readZstdFrameHeader(b: Buffer, at: number): ZstdFrameHeader | null {
  if (b.length - at < 6) return null;
  const fhd = b[at + 4]!;
  const singleSegment = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsFlag = fhd >> 6;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  const length = 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
  if (b.length - at < length) return null;
  let p = at + 5;
  let window = 0;
  if (!singleSegment) {
    const wd = b[p++]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  let dictionary = false;
  for (let i = 0; i < dictBytes; i++) dictionary ||= b[p + i] !== 0;
  p += dictBytes;
  let contentSize: number | null = null;
  if (fcsBytes > 0) {
    let v = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + b[p + i]!;
    contentSize = fcsBytes === 2 ? v + 256 : v;
  }
  if (singleSegment) window = contentSize ?? 0;
  return { length, window, contentSize, checksum: ((fhd >> 2) & 1) === 1, dictionary, reserved: (fhd & 0x08) !== 0 };
}

type Step =
  | { at: 'frame' }
  | { at: 'block'; blockMax: number; checksum: boolean }
  | { at: 'checksum' }
  | { at: 'skip'; left: number };

/**
 * Splits compressed bytes into decoder-sized pieces (a frame header, one block, a
 * checksum), checking each frame header and block header on the way.
 */
export class ZstdFrameWalker {
  private step: Step = { at: 'frame' };
  private held: Buffer = Buffer.alloc(0);
  /** Compressed bytes already walked, for error offsets. */
  private offset = 0;

  constructor(private readonly description: string) {}

  /** The complete pieces `chunk` finishes; what is left over waits for the next chunk. */
  *push(chunk: Buffer): Generator<Buffer> {
    this.held = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const piece = this.next(this.held, at);
      if (piece.n === 0) break;
      if (piece.feed) yield this.held.subarray(at, at + piece.n);
      at += piece.n;
    }
    this.offset += at;
    this.held = at >= this.held.length ? Buffer.alloc(0) : Buffer.from(this.held.subarray(at));
  }

  /** Throws unless the input ended between frames. */
  end(): void {
    if (this.held.length > 0 || this.step.at !== 'frame') {
      throw corrupt('zstd stream', `${this.description} ends inside a frame`, this.offset + this.held.length);
    }
  }

  /**
   * The next complete piece at `at`: its length (0 when more input is needed) and
   * whether the decoder gets it (skippable frames it does not). Advances the state.
   */
  private next(b: Buffer, at: number): { n: number; feed: boolean } {
    const n = this.measure(b, at);
    return { n: Math.abs(n), feed: n > 0 };
  }

  /** The piece's length, negative for bytes to skip. */
  private measure(b: Buffer, at: number): number {
    const have = b.length - at;
    const where = this.offset + at;
    const step = this.step;
    switch (step.at) {
      case 'skip': {
        const n = Math.min(step.left, have);
        step.left -= n;
        if (step.left === 0) this.step = { at: 'frame' };
        return -n;
      }
      case 'checksum':
        if (have < 4) return 0;
        this.step = { at: 'frame' };
        return 4;
      case 'block': {
        if (have < 3) return 0;
        const h = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
        const last = h & 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw corrupt('zstd block', `${this.description}: reserved block type`, where);
        if (size > step.blockMax) throw corrupt('zstd block', `${this.description}: a block of ${size} bytes exceeds the ${step.blockMax}-byte maximum`, where);
        const n = 3 + (type === 1 ? 1 : size);
        if (have < n) return 0;
        checkHuffmanWeights(b.subarray(at, at + n), this.description, where);
        if (last) this.step = step.checksum ? { at: 'checksum' } : { at: 'frame' };
        return n;
      }
      case 'frame': {
        if (have < 4) return 0;
        const magic = b.readUInt32LE(at);
        if ((magic & 0xfffffff0) === 0x184d2a50) {
          if (have < 8) return 0;
          const left = b.readUInt32LE(at + 4);
          this.step = left > 0 ? { at: 'skip', left } : { at: 'frame' };
          return -8;
        }
        if (magic !== ZSTD_MAGIC) throw corrupt('zstd frame', `${this.description}: no zstd magic number`, where);
        const header = readZstdFrameHeader(b, at);
        if (!header) return 0;
        if (header.reserved) throw corrupt('zstd frame', `${this.description}: reserved bit set in the frame header descriptor`, where + 4);
        if (header.dictionary) throw unsupported('zstd frame', `${this.description}: the frame needs a dictionary`, where);
        const window = header.window;
        if (window > ZSTD_WINDOW_CAP) {
          throw limitExceeded('zstd frame', `${this.description}: a window of ${window} bytes is larger than ${ZSTD_WINDOW_CAP} (zstd's own decoder limit)`, where);
        }
        this.step = { at: 'block', blockMax: Math.min(ZSTD_BLOCK_MAX, Math.max(window, 1)), checksum: header.checksum };
        return header.length;
      }
    }
  }
}

/** Decompressed chunks of a zstd stream, at most a couple of blocks at a time. */
export async function* zstdChunks(input: AsyncIterable<Buffer>, description: string): AsyncGenerator<Buffer> {
  const walker = new ZstdFrameWalker(description);
  const out: Buffer[] = [];
  const d = new Decompress((chunk) => void out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  for await (const chunk of input) {
    for (const piece of walker.push(chunk)) {
      d.push(new Uint8Array(piece.buffer, piece.byteOffset, piece.length));
      while (out.length) yield out.shift()!;
    }
  }
  walker.end();
  d.push(new Uint8Array(0), true);
  while (out.length) yield out.shift()!;
}
