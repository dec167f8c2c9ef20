/**
 * Fuzzing the parsers that read attacker-controlled bytes: real images with random
 * bytes changed in their metadata, opened and walked the way a scan does. Each run must
 * end (bounded in time) either cleanly or with a typed MountfsError: never another
 * exception, a hang, or a runaway allocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StreamArchiveFileSystem, DEFAULT_RETENTION } from '../../mountfs/fs/archive/stream-archive-fs.js';
import { ZipFileSystem } from '../../mountfs/fs/archive/zip-fs.js';
import { decompress } from '../../mountfs/sources/stream-decompress.js';
import path from 'node:path';
import { BufferSource } from '../helpers/buffer-source.js';
import { MountfsError } from '../../mountfs/errors.js';
import { Ext4FileSystem } from '../../mountfs/fs/ext4/ext4-fs.js';
import { TarFileSystem } from '../../mountfs/fs/archive/tar-fs.js';
import { detectVolumes } from '../../mountfs/volumes/detect.js';
import { RawVfs } from '../../mountfs/vfs.js';
import type { RawFileSystem } from '../../mountfs/fs/types.js';
import { writeRandomTree } from '../helpers/random-tree.js';
import { buildImage, makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);
const RUNS = Number(process.env.MINESCAN_FUZZ_RUNS ?? 150);


async function exercise(fs: RawFileSystem): Promise<void> {
  const vfs = new RawVfs(fs);
  let n = 0;
  for await (const e of vfs.walk(['/**'], { maxEntries: 20_000, onError: (_p, err) => assertTyped(err) })) {
    if (e.stat.type === 'file' && n++ < 200) await vfs.readFile(e.path, { maxBytes: 1 << 16 }).catch(assertTyped);
    if (e.stat.type === 'symlink') await vfs.readlink(e.path).catch(assertTyped);
  }
}

function assertTyped(err: unknown): void {
  if (!(err instanceof MountfsError)) throw err;
}

/** Flips `count` random bytes inside [from, to) of a copy of the image. */
const mutation = (size: number, from: number, to: number) =>
  fc.array(fc.tuple(fc.integer({ min: from, max: Math.min(size, to) - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 24 });

function mutate(base: Buffer, flips: Array<[number, number]>): Buffer {
  const copy = Buffer.from(base);
  for (const [at, value] of flips) copy[at] = value;
  return copy;
}

async function settles<T>(p: Promise<T>, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not finish in ${ms} ms`)), ms)));
  try {
    await Promise.race([p.then(() => undefined, assertTyped), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('fuzzing the parsers', () => {
  let scratch: string;
  let ext4: Buffer;
  let ext2: Buffer;
  let gpt: Buffer;
  let mbr: Buffer;
  let tar: Buffer;
  let tgz: Buffer;
  let zip: Buffer;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    const tree = path.join(scratch, 'tree');
    await writeRandomTree(tree, 5, { files: 15, bigDirEntries: 300, maxFileBytes: 20_000 });
    await run('mkfs.ext4', ['-q', '-F', '-b', '1024', '-d', tree, path.join(scratch, 'ext4.img'), '16M']);
    await run('mkfs.ext4', ['-q', '-F', '-t', 'ext2', '-b', '1024', '-d', tree, path.join(scratch, 'ext2.img'), '16M']);
    ext4 = await readFile(path.join(scratch, 'ext4.img'));
    ext2 = await readFile(path.join(scratch, 'ext2.img'));
    gpt = await readFile(await buildImage(tree, path.join(scratch, 'gpt.img'), { table: 'gpt', sizeMiB: 24 }));
    mbr = await readFile(await buildImage(tree, path.join(scratch, 'mbr.img'), { table: 'mbr', sizeMiB: 24 }));
    await run('tar', ['-C', tree, '-cf', path.join(scratch, 'a.tar'), '--format=posix', '.']);
    tar = await readFile(path.join(scratch, 'a.tar'));
    await run('tar', ['-C', tree, '-czf', path.join(scratch, 'a.tgz'), '.']);
    tgz = await readFile(path.join(scratch, 'a.tgz'));
    await run('bash', ['-c', `cd ${tree} && zip -qry ${path.join(scratch, 'a.zip')} .`]);
    zip = await readFile(path.join(scratch, 'a.zip'));
  }, 120_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('ext4 metadata (superblock, group descriptors, inode tables, directories)', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(ext4.length, 1024, 400 * 1024), async (flips) => {
        await settles(Ext4FileSystem.open(new BufferSource(mutate(ext4, flips))).then(exercise));
      }),
      { numRuns: RUNS },
    );
  });

  it('ext2 block maps and directories', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(ext2.length, 1024, 600 * 1024), async (flips) => {
        await settles(Ext4FileSystem.open(new BufferSource(mutate(ext2, flips))).then(exercise));
      }),
      { numRuns: RUNS },
    );
  });

  it.each([
    ['GPT', () => gpt],
    ['MBR', () => mbr],
  ])('%s partition tables', async (_name, image) => {
    const base = image();
    await fc.assert(
      fc.asyncProperty(mutation(base.length, 0, 34 * 512), async (flips) => {
        await settles(detectVolumes(new BufferSource(mutate(base, flips))));
      }),
      { numRuns: RUNS },
    );
  });

  it('tar headers and pax records', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(tar.length, 0, 64 * 1024), async (flips) => {
        await settles(TarFileSystem.open(new BufferSource(mutate(tar, flips))).then(exercise));
      }),
      { numRuns: RUNS },
    );
  });

  it('gzip-compressed tar read in one pass', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(tgz.length, 0, Math.min(tgz.length, 32 * 1024)), async (flips) => {
        const bytes = mutate(tgz, flips);
        await settles(
          StreamArchiveFileSystem.fromTar(decompress(Readable.from([bytes]), 'gzip', 'fuzzed.tgz'), 'tar+gzip', { ...DEFAULT_RETENTION, retain: ['/**'] }).then(exercise),
        );
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it('zip central directory and entries', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(zip.length, Math.max(0, zip.length - 16 * 1024), zip.length), async (flips) => {
        const file = path.join(scratch, 'fuzzed.zip');
        await writeFile(file, mutate(zip, flips));
        await settles(ZipFileSystem.open(file).then(async (fs) => {
          try {
            await exercise(fs);
          } finally {
            await fs.close();
          }
        }));
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it('is not fooled into success by an untouched image', async () => {
    // The harness itself must be able to fail: an unexpected exception type is rethrown.
    await expect(settles(Promise.reject(new TypeError('boom')))).rejects.toThrow('boom');
    await expect(settles(new Promise(() => undefined), 50)).rejects.toThrow(/did not finish/);
  });
});
