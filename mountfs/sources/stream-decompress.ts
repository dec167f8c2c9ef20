/**
 * Streaming decompression of gzip, zstd and xz, front to back, with a guard against
 * decompression bombs: output is capped by an absolute limit and, once past a floor,
 * by a ratio to the input consumed. Node 20's zlib has no zstd or xz: fzstd and
 * xz-decompress (pure JS / WebAssembly, no native build) fill in.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { createRequire } from 'node:module';
import { corrupt, limitExceeded } from '../errors.js';

// xz-decompress is CommonJS without named ESM exports under Node.
const { XzReadableStream } = createRequire(import.meta.url)('xz-decompress') as typeof import('xz-decompress');

export type Compression = 'gzip' | 'zstd' | 'xz';

export interface BombLimits {
  /** No stream may decompress to more than this (default 256 GiB). */
  maxOutput: number;
  /** Past `ratioFloor` bytes of output, output/input may not exceed this (default 4096). */
  maxRatio: number;
  ratioFloor: number;
}

export const DEFAULT_BOMB_LIMITS: BombLimits = { maxOutput: 256 * 1024 ** 3, maxRatio: 4096, ratioFloor: 64 << 20 };

export function detectCompression(head: Buffer): Compression | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return null;
}

/** Decompressed chunks of `input`; throws a typed error on damage or a bomb. */
export async function* decompress(input: Readable, kind: Compression, description: string, limits: BombLimits = DEFAULT_BOMB_LIMITS): AsyncGenerator<Buffer> {
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
      throw limitExceeded(`${kind} stream`, `${description} expands more than ${limits.maxRatio}:1 (a decompression bomb?)`);
    }
  };
  try {
    for await (const chunk of inflate(counted, kind)) {
      guard(chunk);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'MountfsError') throw err;
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

function inflate(input: Readable, kind: Compression): AsyncIterable<Buffer> {
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
      return zstd(input);
  }
}

async function* zstd(input: Readable): AsyncGenerator<Buffer> {
  const out: Buffer[] = [];
  const d = new ZstdDecompress((chunk) => void out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  for await (const chunk of input) {
    d.push(new Uint8Array(chunk as Buffer));
    while (out.length) yield out.shift()!;
  }
  d.push(new Uint8Array(0), true);
  while (out.length) yield out.shift()!;
}
