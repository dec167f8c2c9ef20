/**
 * A compressed disk image (disk.img.gz) must be read at random, and a compressed
 * stream cannot be: it is decompressed once into a temporary file on the scanning
 * host (never beside the evidence), written sparsely so runs of zeros, most of a
 * disk, take no space. The file is removed when the scan closes the target.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ioError } from '../errors.js';

const ZERO_RUN = 64 << 10;

export interface SpooledFile {
  path: string;
  size: number;
  remove(): Promise<void>;
}

export async function spoolToTempFile(chunks: AsyncIterable<Buffer>, description: string): Promise<SpooledFile> {
  const dir = await mkdtemp(path.join(process.env.MINESCAN_TMPDIR ?? os.tmpdir(), 'minescan-spool-'));
  const file = path.join(dir, 'image');
  const remove = () => rm(dir, { recursive: true, force: true });
  const fh = await open(file, 'w', 0o600);
  let pos = 0;
  try {
    for await (const chunk of chunks) {
      for (let at = 0; at < chunk.length; at += ZERO_RUN) {
        const piece = chunk.subarray(at, Math.min(chunk.length, at + ZERO_RUN));
        if (!isZero(piece)) await fh.write(piece, 0, piece.length, pos + at);
      }
      pos += chunk.length;
    }
    await fh.truncate(pos);
  } catch (err) {
    await fh.close();
    await remove();
    if (err instanceof Error && err.name === 'MountfsError') throw err;
    throw ioError('temporary spool', `${description}: ${(err as Error).message}`);
  }
  await fh.close();
  return { path: file, size: pos, remove };
}

const ZEROS = Buffer.alloc(ZERO_RUN);

function isZero(b: Buffer): boolean {
  return b.equals(ZEROS.subarray(0, b.length));
}
