/**
 * A compressed disk image (disk.img.gz) or a disk inside a zip must be read at random,
 * and a compressed stream cannot be: it is decompressed once into a temporary file on
 * the scanning host (never beside the evidence), written sparsely so runs of zeros,
 * most of a disk, take no space.
 *
 * The disk is hostile and a few MB can decompress to tens of GiB, so every spool of
 * one target draws on one `SpoolBudget`: the bytes actually written (holes cost
 * nothing). Past it the spool stops with a `limit` error naming the container and the
 * budget. Spools live in `SpoolOptions.dir` (--spool-dir), and are removed when the
 * target closes, when the process exits, and by `removeAllSpools()`, which the
 * signal handlers call: a scan stopped at any point leaves nothing behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ioError, limitExceeded, MountfsError } from '../errors.js';

const ZERO_RUN = 64 << 10;

/** The default budget: half the free space of the spool directory, at most 16 GiB. */
export const DEFAULT_SPOOL_CAP = 16 * 1024 ** 3;

export interface SpoolOptions {
  /** Directory the spool directories are made in (default MINESCAN_TMPDIR or the system temporary directory). */
  dir?: string;
  /** Bytes all spools of one target may write together (default: see `defaultSpoolBudget`). */
  budget?: number;
}

/** The bytes the spools of one target may still write. */
export class SpoolBudget {
  used = 0;
  constructor(
    readonly limit: number,
    readonly dir: string,
  ) {}

  static async create(options: SpoolOptions = {}): Promise<SpoolBudget> {
    const dir = options.dir ?? process.env.MINESCAN_TMPDIR ?? os.tmpdir();
    return new SpoolBudget(options.budget ?? (await defaultSpoolBudget(dir)), dir);
  }
}

/** Half the space free in `dir` now, at most 16 GiB: a scan never fills the host's disk. */
export async function defaultSpoolBudget(dir: string): Promise<number> {
  try {
    const st = await statfs(dir);
    return Math.min(DEFAULT_SPOOL_CAP, Math.floor((st.bavail * st.bsize) / 2));
  } catch {
    return DEFAULT_SPOOL_CAP;
  }
}

export interface SpooledFile {
  path: string;
  size: number;
  remove(): Promise<void>;
}

/** Spool directories that exist now. */
const live = new Set<string>();
let exitHookInstalled = false;

/**
 * Removes every spool directory still on disk, synchronously, so it can run in a
 * signal handler or on 'exit' where no promise will be awaited.
 */
export function removeAllSpools(): void {
  for (const dir of [...live]) {
    try {
      // Retried: a write still in flight in the thread pool may create the spool's file
      // while the directory is being removed (ENOTEMPTY).
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
      live.delete(dir);
    } catch {
      // Kept in `live`, so the 'exit' hook tries again; the name says what it is.
    }
  }
}

/** Directories of spools not yet removed (for tests). */
export function liveSpools(): string[] {
  return [...live];
}

/**
 * Writes `chunks` to a new sparse spool file. `container` names what is being spooled
 * in errors ("gzip in disk.img.gz"). A spool that fails is removed before the error.
 */
export async function spoolToTempFile(chunks: AsyncIterable<Buffer>, container: string, budget: SpoolBudget): Promise<SpooledFile> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', removeAllSpools);
  }
  let dir: string;
  try {
    dir = mkdtempSync(path.join(budget.dir, 'minescan-spool-'));
  } catch (err) {
    throw ioError('temporary spool', `${container}: cannot make a spool directory in ${budget.dir}: ${(err as Error).message}`);
  }
  live.add(dir);
  const file = path.join(dir, 'image');
  let written = 0;
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    budget.used -= written;
    // Still listed while it is being removed: a stop that comes in the meantime removes
    // it too (synchronously), instead of exiting with the removal half done.
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    live.delete(dir);
  };
  let pos = 0;
  try {
    const fh = await open(file, 'wx', 0o600);
    try {
      // Removed by a stop while the file was being created: it must not stay behind.
      if (!live.has(dir)) throw ioError('temporary spool', `${container}: minescan is stopping; the spool was removed`);
      for await (const chunk of chunks) {
        for (let at = 0; at < chunk.length; at += ZERO_RUN) {
          const piece = chunk.subarray(at, Math.min(chunk.length, at + ZERO_RUN));
          if (isZero(piece)) continue;
          if (budget.used + piece.length > budget.limit) {
            throw limitExceeded(`spool of ${container}`, `decompressing it would write more than the spool budget of ${budget.limit} bytes (${budget.dir})`, pos + at);
          }
          budget.used += piece.length;
          written += piece.length;
          await fh.write(piece, 0, piece.length, pos + at);
        }
        pos += chunk.length;
      }
      await fh.truncate(pos);
    } finally {
      await fh.close();
    }
  } catch (err) {
    await remove();
    if (err instanceof MountfsError) throw err;
    throw ioError('temporary spool', `${container}: ${(err as Error).message}`);
  }
  return { path: file, size: pos, remove };
}

const ZEROS = Buffer.alloc(ZERO_RUN);

function isZero(b: Buffer): boolean {
  return b.equals(ZEROS.subarray(0, b.length));
}
