/**
 * Streaming decompression of gzip, zstd and xz, front to back. Node 20's zlib has no
 * zstd or xz: fzstd (walked block by block, ./zstd-stream.ts) and xz-decompress (pure
 * JS / WebAssembly, no native build) fill in.
 *
 * Decompression bombs: a ratio guard cannot tell a bomb from an honest image, since
 * an empty disk is all zeros and compresses as well as any bomb (a 4 GiB empty ext4
 * image gzips at 1027:1, zstd at 29000:1). So the ratio guard sits at what each format
 * can express at all, and fires only on a stream no honest encoder made: deflate
 * codes at most 258 bytes in about 2 bits (1032:1); a zstd RLE block regenerates at
 * most 128 KiB from 4 bytes (32768:1); LZMA2's adaptive probabilities bottom out near
 * 0.02 bits a decision, about 7500:1 (xz -9 gets 6900:1 from zeros), guarded at twice
 * that. What bounds a bomb is absolute: `maxOutput` here, the spool budget on disk
 * (./temp-spool.ts), and memory, which each decoder keeps to its window and a block.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createRequire } from 'node:module';
import { corrupt, limitExceeded } from '../errors.js';
import { zstdChunks } from './zstd-stream.js';

// xz-decompress is CommonJS without named ESM exports under Node.
const { XzReadableStream } = createRequire(import.meta.url)('xz-decompress') as typeof import('xz-decompress');

export type Compression = 'gzip' | 'zstd' | 'xz';

export interface BombLimits {
  /** No stream may decompress to more than this (default 256 GiB). */
  maxOutput: number;
  /** Past `ratioFloor` bytes of output, output/input may not exceed this (default: the format's ceiling). */
  maxRatio: number;
  ratioFloor: number;
}

/** The most output per input byte each format can express (see the header). */
export const RATIO_CEILING: Record<Compression, number> = { gzip: 1032, zstd: 32768, xz: 15000 };

export function defaultBombLimits(kind: Compression): BombLimits {
  return { maxOutput: 256 * 1024 ** 3, maxRatio: RATIO_CEILING[kind], ratioFloor: 1 << 20 };
}

export function detectCompression(head: Buffer): Compression | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return null;
}

/** Decompressed chunks of `input`; throws a typed error on damage or a bomb. */
export async function* decompress(input: Readable, kind: Compression, description: string, limits: BombLimits = defaultBombLimits(kind)): AsyncGenerator<Buffer> {
  let consumed = 0;
  const counted = Readable.from(
    (async function* () {
      for await (const c of input) {
        consumed += (c as Buffer).length;
        yield c as Buffer;
      }
    })(),
    { objectMode: false },
  );
  let produced = 0;
  const guard = (chunk: Buffer) => {
    produced += chunk.length;
    if (produced > limits.maxOutput) throw limitExceeded(`${kind} stream`, `${description} decompresses to more than ${limits.maxOutput} bytes`);
    if (produced > limits.ratioFloor && produced > consumed * limits.maxRatio) {
      throw limitExceeded(`${kind} stream`, `${description} expands more than ${limits.maxRatio}:1, more than ${kind} can express (a decompression bomb?)`);
    }
  };
  try {
    for await (const chunk of inflate(counted, kind, description)) {
      guard(chunk);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'MountfsError') throw err;
    // xz-embedded's XZ_MEMLIMIT_ERROR: the header asks for a dictionary past the decoder's memory limit.
    if (kind === 'xz' && /error code 4$/.test((err as Error).message)) {
      throw limitExceeded('xz stream', `${description}: its dictionary is larger than the xz decoder's memory limit`, consumed);
    }
    throw corrupt(`${kind} stream`, `${description}: ${(err as Error).message}`, consumed);
  } finally {
    // The consumer may stop before the end (a tar ends at its end-of-archive blocks, before
    // the compressed stream does): the reader still inside `counted` then fails with a
    // premature close, which must not surface as an unhandled 'error' event.
    counted.on('error', () => undefined);
    counted.destroy();
    input.destroy();
  }
}

function inflate(input: Readable, kind: Compression, description: string): AsyncIterable<Buffer> {
  switch (kind) {
    case 'gzip': {
      // pipe() forwards no errors: a read error of the input must end the output with it.
      const gunzip = createGunzip();
      input.on('error', (err) => gunzip.destroy(err));
      return input.pipe(gunzip);
    }
    case 'xz': {
      const web = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
      return Readable.fromWeb(new XzReadableStream(web) as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
    }
    case 'zstd':
      return zstdChunks(input, description);
  }
}
