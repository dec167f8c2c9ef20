/**
 * Byte sources: image files and block devices read exactly and never written; slices
 * of them clamped to their parent; the chunk cache returning the same bytes as the
 * medium with far fewer reads of it, within its memory bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { constants, writeSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MountfsError } from '../../mountfs/errors.js';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import { CachedByteSource } from '../../mountfs/sources/cached-source.js';
import { blockDeviceSize, decodeRdev, FileByteSource } from '../../mountfs/sources/file-source.js';
import { SliceByteSource } from '../../mountfs/sources/slice-source.js';
import { detectVolumes } from '../../mountfs/volumes/detect.js';
import { BufferSource } from '../helpers/buffer-source.js';
import { makePartitionedImage, withLoopDevice } from '../helpers/partitioned-image.js';

let scratch: string;
let imageFile: string;
let image: Buffer;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-sources-'));
  imageFile = path.join(scratch, 'random.img');
  // Not a multiple of any chunk or sector size, so every end case is met.
  image = randomBytes(3 * 1024 * 1024 + 123);
  await writeFile(imageFile, image);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

/** What a correct source returns for (offset, length) over these bytes. */
const expected = (bytes: Buffer, offset: number, length: number) => bytes.subarray(Math.min(offset, bytes.length), Math.min(bytes.length, offset + length));

/** The descriptors this process has open on a file, from /proc/self/fd. */
async function fdsOpenOn(file: string): Promise<number[]> {
  const out: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === file) out.push(Number(fd));
  }
  return out;
}

describe('FileByteSource', () => {
  it('reads exactly the bytes asked for, cut at the end, and counts them', async () => {
    const counter = { bytesRead: 0 };
    const source = await FileByteSource.open(imageFile, counter);
    try {
      expect(source.size).toBe(image.length);
      expect(source.description).toBe(imageFile);
      let total = 0;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: image.length + 100 }), fc.integer({ min: 0, max: 300_000 }), async (offset, length) => {
          const got = await source.read(offset, length);
          expect(got.equals(expected(image, offset, length))).toBe(true);
          total += got.length;
        }),
        { numRuns: 300 },
      );
      expect(counter.bytesRead).toBe(total);
      expect((await source.read(image.length - 10, 100)).length).toBe(10);
      expect((await source.read(image.length + 5, 100)).length).toBe(0);
      for (const [offset, length] of [[-1, 10], [0, -1], [1.5, 10], [0, Number.NaN]]) {
        await expect(source.read(offset!, length!)).rejects.toMatchObject({ name: 'MountfsError', kind: 'io' });
      }
    } finally {
      await source.close();
    }
    await expect(source.read(0, 1)).rejects.toBeInstanceOf(MountfsError);
    await source.close(); // a second close is harmless
  });

  it('holds a read-only descriptor that cannot write, and leaves the file unchanged', async () => {
    const before = await sha256(imageFile);
    const { mtimeMs } = await stat(imageFile);
    const already = await fdsOpenOn(imageFile);
    const source = await FileByteSource.open(imageFile);
    try {
      const fds = (await fdsOpenOn(imageFile)).filter((fd) => !already.includes(fd));
      expect(fds).toHaveLength(1);
      const fd = fds[0]!;
      const flags = parseInt(/flags:\s+([0-7]+)/.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      expect(flags & 3).toBe(constants.O_RDONLY); // the O_ACCMODE bits
      expect(flags & constants.O_NOATIME).toBe(constants.O_NOATIME); // we own the file, so the kernel allows it
      expect(() => writeSync(fd, Buffer.from('overwritten'), 0, 11, 0)).toThrow(/EBADF/);
      for (let i = 0; i < 50; i++) await source.read(Math.floor(Math.random() * image.length), 65536);
    } finally {
      await source.close();
    }
    expect(await sha256(imageFile)).toBe(before);
    expect((await stat(imageFile)).mtimeMs).toBe(mtimeMs);
  });

  it('still opens, without O_NOATIME, a file the kernel will not grant it for', async (ctx) => {
    // The kernel allows O_NOATIME only to the file's owner (or CAP_FOWNER): as root, act as nobody for a moment.
    if (process.getuid?.() !== 0 || !process.seteuid) ctx.skip();
    const dir = path.join(scratch, 'shared');
    await mkdir(dir, { recursive: true });
    await chmod(scratch, 0o755);
    await chmod(dir, 0o755);
    const file = path.join(dir, 'root-owned.img');
    await writeFile(file, image.subarray(0, 4096), { mode: 0o644 });
    let source: FileByteSource | undefined;
    process.seteuid!(65534);
    try {
      source = await FileByteSource.open(file);
    } finally {
      process.seteuid!(0);
    }
    try {
      const fd = (await fdsOpenOn(file))[0]!;
      const flags = parseInt(/flags:\s+([0-7]+)/.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      expect(flags & 3).toBe(constants.O_RDONLY);
      expect(flags & constants.O_NOATIME).toBe(0);
      expect((await source.read(0, 4096)).equals(image.subarray(0, 4096))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('refuses what is neither a file nor a block device, with typed errors', async () => {
    await expect(FileByteSource.open(path.join(scratch, 'missing.img'))).rejects.toMatchObject({ kind: 'not-found' });
    await expect(FileByteSource.open(scratch)).rejects.toMatchObject({ kind: 'unsupported' });
    await expect(FileByteSource.open('/dev/null')).rejects.toMatchObject({ kind: 'unsupported' });
  });

  it('reads a block device (a read-only loop device) as the file behind it', async () => {
    await withLoopDevice(imageFile, ['-r'], async (device) => {
      const counter = { bytesRead: 0 };
      const source = await FileByteSource.open(device, counter);
      try {
        // A loop device's size is the file's, rounded down to 512-byte sectors.
        expect(source.size).toBe(Math.floor(image.length / 512) * 512);
        const { rdev } = await stat(device, { bigint: true });
        const sysfs = (await readFile(`/sys/class/block/${path.basename(device)}/dev`, 'utf8')).trim();
        const { major, minor } = decodeRdev(rdev);
        expect(`${major}:${minor}`).toBe(sysfs);
        const bytes = image.subarray(0, source.size);
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: source.size + 10 }), fc.integer({ min: 0, max: 200_000 }), async (offset, length) => {
            expect((await source.read(offset, length)).equals(expected(bytes, offset, length))).toBe(true);
          }),
          { numRuns: 100 },
        );
        expect(counter.bytesRead).toBeGreaterThan(0);
      } finally {
        await source.close();
      }
    });
  });

  it('finds the same partitions through a loop device as in the image file', async () => {
    const img = await makePartitionedImage(path.join(scratch, 'loop-gpt.img'), {
      scheme: 'gpt',
      partitions: [{ sizeMiB: 2, type: '8300', name: 'root' }, { sizeMiB: 1, type: '8e00' }],
    });
    const summary = async (file: string) => {
      const source = await FileByteSource.open(file);
      try {
        const layout = await detectVolumes(source);
        return { scheme: layout.scheme, warnings: layout.warnings, volumes: layout.volumes.map(({ index, type, start, size, name }) => ({ index, type, start, size, name })) };
      } finally {
        await source.close();
      }
    };
    const fromFile = await summary(img.path);
    expect(fromFile.volumes).toHaveLength(2);
    await withLoopDevice(img.path, ['-r'], async (device) => expect(await summary(device)).toEqual(fromFile));
  });

  it('finds a block device size in sysfs by number, then by name', async () => {
    const sys = path.join(scratch, 'sys');
    const makedev = (major: bigint, minor: bigint) =>
      ((major & 0xfffff000n) << 32n) | ((major & 0xfffn) << 8n) | ((minor & 0xffffff00n) << 12n) | (minor & 0xffn);
    expect(decodeRdev(makedev(259n, 300000n))).toEqual({ major: 259, minor: 300000 });
    expect(decodeRdev(makedev(4100n, 7n))).toEqual({ major: 4100, minor: 7 });
    expect(decodeRdev(1792n)).toEqual({ major: 7, minor: 0 });

    await mkdir(path.join(sys, 'class/block/fakedisk'), { recursive: true });
    await writeFile(path.join(sys, 'class/block/fakedisk/size'), '2048\n');
    expect(await blockDeviceSize(makedev(8n, 0n), '/dev/fakedisk', sys)).toBe(2048 * 512);
    await mkdir(path.join(sys, 'dev/block/8:0'), { recursive: true });
    await writeFile(path.join(sys, 'dev/block/8:0/size'), '4096\n');
    expect(await blockDeviceSize(makedev(8n, 0n), '/dev/fakedisk', sys)).toBe(4096 * 512);
    await expect(blockDeviceSize(makedev(9n, 9n), '/dev/other', sys)).rejects.toMatchObject({ kind: 'io' });
    await writeFile(path.join(sys, 'dev/block/8:0/size'), 'lots\n');
    await expect(blockDeviceSize(makedev(8n, 0n), '/dev/fakedisk', sys)).rejects.toMatchObject({ kind: 'io' });
  });
});

describe('SliceByteSource', () => {
  const parent = new BufferSource(randomBytes(10_000), 'disk.img');

  it('is a window of its parent, clamped to it', async () => {
    const slice = new SliceByteSource(parent, 1000, 3000, 'partition 2 of disk.img');
    expect(slice.size).toBe(3000);
    expect(slice.description).toBe('partition 2 of disk.img');
    const whole = await parent.read(0, 10_000);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3500 }), fc.integer({ min: 0, max: 5000 }), async (offset, length) => {
        expect((await slice.read(offset, length)).equals(expected(whole.subarray(1000, 4000), offset, length))).toBe(true);
      }),
    );
    expect(new SliceByteSource(parent, 9000, 5000, 'past the end').size).toBe(1000);
    const beyond = new SliceByteSource(parent, 20_000, 100, 'beyond');
    expect(beyond.size).toBe(0);
    expect((await beyond.read(0, 100)).length).toBe(0);
    const nested = new SliceByteSource(slice, 500, 100, 'nested');
    expect((await nested.read(0, 200)).equals(whole.subarray(1500, 1600))).toBe(true);
    await expect(slice.read(-1, 10)).rejects.toMatchObject({ kind: 'io' });
    expect(() => new SliceByteSource(parent, -5, 10, 'negative')).toThrow(MountfsError);
    await slice.close();
    expect((await parent.read(0, 1)).length).toBe(1); // closing a slice leaves the parent open
  });
});

describe('CachedByteSource', () => {
  const bytes = randomBytes(2 * 1024 * 1024 + 777);

  it('returns the medium’s bytes for any reads, with far fewer reads of the medium', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: bytes.length + 10 }), fc.integer({ min: 0, max: 20_000 })), { minLength: 1, maxLength: 200 }),
        fc.constantFrom(4096, 65536),
        async (reads, chunkSize) => {
          const inner = new BufferSource(bytes);
          const cached = new CachedByteSource(inner, { chunkSize });
          for (const [offset, length] of reads) expect((await cached.read(offset, length)).equals(expected(bytes, offset, length))).toBe(true);
          const chunks = new Set(inner.reads.filter((r) => r.length === chunkSize).map((r) => r.offset));
          expect(chunks.size).toBe(inner.reads.filter((r) => r.length === chunkSize).length); // no chunk read twice
        },
      ),
      { numRuns: 60 },
    );
    const inner = new BufferSource(bytes);
    const cached = new CachedByteSource(inner);
    for (let i = 0; i < 10_000; i++) {
      const offset = Math.floor(Math.random() * (1024 * 1024));
      expect((await cached.read(offset, 512)).equals(expected(bytes, offset, 512))).toBe(true);
    }
    expect(inner.reads.length).toBeLessThanOrEqual(17); // 1 MiB + 512 bytes spans at most 17 chunks of 64 KiB
  });

  it('merges concurrent reads of one chunk into one read of the medium', async () => {
    const inner = new BufferSource(bytes);
    const cached = new CachedByteSource(inner);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => cached.read(70_000 + i * 100, 300)));
    results.forEach((r, i) => expect(r.equals(bytes.subarray(70_000 + i * 100, 70_300 + i * 100))).toBe(true));
    expect(inner.reads).toEqual([{ offset: 65536, length: 65536 }]);
  });

  it('lets large reads bypass it and stays within its memory bound, evicting the least recently used', async () => {
    const inner = new BufferSource(bytes);
    const cached = new CachedByteSource(inner, { chunkSize: 4096, maxBytes: 4 * 4096 });
    expect((await cached.read(100, 1024 * 1024)).equals(bytes.subarray(100, 100 + 1024 * 1024))).toBe(true);
    expect(inner.reads).toEqual([{ offset: 100, length: 1024 * 1024 }]);
    expect(cached.cachedChunks).toBe(0);
    for (let i = 0; i < 100; i++) await cached.read(i * 4096, 10);
    expect(cached.cachedChunks).toBe(4);
    inner.reads.length = 0;
    await cached.read(96 * 4096, 10); // chunk 96 is used again, so 97 is now the oldest
    await cached.read(200 * 4096, 10); // evicts 97
    await cached.read(96 * 4096, 10); // still cached
    await cached.read(97 * 4096, 10); // read again
    expect(inner.reads.map((r) => r.offset / 4096)).toEqual([200, 97]);
  });

  it('for a source that holds only some chunks: reads the others through, and prefetches held chunks ahead of a reader walking forward, a window growing with the walk, into free room only', async () => {
    const chunk = 4096;
    const holes = new Set([3, 7, 8]);
    const inner = new BufferSource(bytes);
    const cached = new CachedByteSource(inner, { chunkSize: chunk, maxBytes: 8 * chunk, bypassBytes: Infinity, holds: (i) => !holes.has(i), readahead: 3 });
    const chunksRead = () => inner.reads.map((r) => r.offset / chunk);
    const readChunk = async (i: number) => {
      expect((await cached.read(i * chunk + 7, 100)).equals(bytes.subarray(i * chunk + 7, i * chunk + 107))).toBe(true);
      await new Promise((r) => setImmediate(r));
    };
    // A hole is read through each time, and never kept.
    await readChunk(3);
    await readChunk(3);
    expect(chunksRead()).toEqual([3, 3]);
    expect(cached.cachedChunks).toBe(0);
    inner.reads.length = 0;
    // A random read, and a first step forward, fetch what they need and nothing more.
    await readChunk(1);
    await readChunk(2);
    expect(chunksRead()).toEqual([1, 2]);
    // Further steps fetch ahead: one held chunk after the hole 3, then two.
    await readChunk(3);
    expect(chunksRead()).toEqual([1, 2, 3, 4]);
    await readChunk(4);
    expect(chunksRead()).toEqual([1, 2, 3, 4, 5, 6]);
    inner.reads.length = 0;
    // Prefetched chunks are served from the cache; the window (3) skips the holes 7 and 8,
    // and the last prefetch fills the room (8 chunks).
    await readChunk(5);
    await readChunk(6);
    expect(chunksRead()).toEqual([9, 10, 11]);
    inner.reads.length = 0;
    await readChunk(7);
    await readChunk(8);
    await readChunk(9);
    expect(chunksRead()).toEqual([7, 8]);
    // Nothing a reader asked for was evicted to make room for a prefetch, so 12 was not fetched ahead.
    await readChunk(1);
    expect(chunksRead()).toEqual([7, 8]);
    await readChunk(12);
    expect(chunksRead()).toEqual([7, 8, 12]);
    expect(cached.chunksFetched).toBe(9);
  });

  it('hands out copies, does not remember failures, and counts what it reads', async () => {
    const inner = new BufferSource(bytes);
    const cached = new CachedByteSource(inner);
    const first = await cached.read(0, 16);
    first.fill(0);
    expect((await cached.read(0, 16)).equals(bytes.subarray(0, 16))).toBe(true);

    let fail = true;
    const flaky: ByteSource = {
      description: 'flaky',
      size: bytes.length,
      read: async (offset, length) => {
        if (fail) throw new MountfsError('io', 'flaky', 'medium error', offset);
        return inner.read(offset, length);
      },
      close: async () => undefined,
    };
    const overFlaky = new CachedByteSource(flaky);
    await expect(overFlaky.read(10, 10)).rejects.toMatchObject({ kind: 'io' });
    fail = false;
    expect((await overFlaky.read(10, 10)).equals(bytes.subarray(10, 20))).toBe(true);

    const counter = { bytesRead: 0 };
    const file = await FileByteSource.open(imageFile, counter);
    const overFile = new CachedByteSource(file);
    try {
      for (let i = 0; i < 1000; i++) await overFile.read(i * 7, 100);
      expect(counter.bytesRead).toBe(65536);
    } finally {
      await overFile.close();
    }
    await expect(file.read(0, 1)).rejects.toBeInstanceOf(MountfsError); // closing the cache closed the file
  });
});
