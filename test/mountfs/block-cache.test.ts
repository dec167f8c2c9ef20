/**
 * The one block cache (mountfs/block-cache.ts): its counters, its byte bound shared by
 * every region, one recency order across regions, shared loads and forgotten failures;
 * then real images (ext4 in qcow2, a streamOptimized VMDK, a dynamic VHD and a VHDX,
 * made by mkfs.ext4 and qemu-img; XFS by mkfs.xfs) opened through one small cache:
 * every layer keeps its blocks there, and what it holds never passes the bound,
 * whatever is walked. Only counters are compared, never the clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { BlockCache, type CacheRegion } from '../../mountfs/block-cache.js';
import { openImage } from '../../mountfs/open-image.js';
import { CachedByteSource } from '../../mountfs/sources/cached-source.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { nowhere } from '../../mountfs/sources/named-files.js';
import { SpoolBudget } from '../../mountfs/sources/temp-spool.js';
import { XfsFileSystem } from '../../mountfs/fs/xfs/xfs-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { makeExt4Image, makeScratch, removeScratch } from '../helpers/ext4-image.js';
import { xfsFromTreeByProto } from '../helpers/xfs-image.js';

const run = promisify(execFile);
const KiB = 1024;

/** A loader that counts its calls and hands out `size` bytes tagged with the key. */
function loader(size: number) {
  const calls: number[] = [];
  const load = (key: number) => () => {
    calls.push(key);
    const b = Buffer.alloc(size);
    b.writeUInt32LE(key);
    return Promise.resolve(b);
  };
  return { calls, load };
}

describe('BlockCache', () => {
  it('counts hits, misses and evictions, and keeps the least recently used out first, across regions', async () => {
    const cache = new BlockCache(4 * KiB);
    const a = cache.region('a');
    const b = cache.region('b');
    const { calls, load } = loader(KiB);
    const get = (r: CacheRegion, k: number) => r.get(k, KiB, load(k));
    await get(a, 1);
    await get(a, 2);
    await get(b, 1); // same key, other region: its own entry
    await get(b, 2);
    expect(cache.stats).toEqual({ hits: 0, misses: 4, evictions: 0, bytes: 4 * KiB, entries: 4 });
    expect((await get(a, 1)).readUInt32LE(0)).toBe(1); // a:1 is now the newest
    await get(a, 3); // evicts a:2, the oldest
    expect(cache.stats).toMatchObject({ hits: 1, misses: 5, evictions: 1, bytes: 4 * KiB, entries: 4 });
    expect([a.has(1), a.has(2), a.has(3), b.has(1), b.has(2)]).toEqual([true, false, true, true, true]);
    expect([a.hits, a.misses, b.hits, b.misses]).toEqual([1, 3, 0, 2]);
    expect(calls).toEqual([1, 2, 1, 2, 3]);
    // Clearing one region frees its bytes and leaves the other alone.
    a.clear();
    expect(cache.stats).toMatchObject({ bytes: 2 * KiB, entries: 2 });
    expect(cache.freeBytes).toBe(2 * KiB);
    expect(b.size).toBe(2);
  });

  it('never holds more than its bound, whatever the sizes asked for, and keeps nothing larger than itself', async () => {
    const cache = new BlockCache(64 * KiB);
    const regions = [cache.region('x'), cache.region('y'), cache.region('z')];
    let peak = 0;
    for (let i = 0; i < 3000; i++) {
      const size = [512, 4 * KiB, 16 * KiB, 60 * KiB][i % 4]!;
      await regions[i % 3]!.get((i * 7919) % 500, size, () => Promise.resolve(Buffer.alloc(size)));
      peak = Math.max(peak, cache.stats.bytes);
    }
    expect(peak).toBeLessThanOrEqual(64 * KiB);
    expect(cache.stats.evictions).toBeGreaterThan(0);
    expect(cache.stats.hits + cache.stats.misses).toBe(3000);
    const before = cache.stats.entries;
    await regions[0]!.get(99_999, 65 * KiB, () => Promise.resolve(Buffer.alloc(65 * KiB)));
    expect(regions[0]!.has(99_999)).toBe(false);
    expect(cache.stats.entries).toBe(before);
  });

  it('shares one load among concurrent asks and forgets a failed one', async () => {
    const cache = new BlockCache(16 * KiB);
    const r = cache.region('r');
    let loads = 0;
    let release!: (b: Buffer) => void;
    const slow = () => {
      loads++;
      return new Promise<Buffer>((resolve) => (release = resolve));
    };
    const waiting = Array.from({ length: 10 }, () => r.get(5, KiB, slow));
    release(Buffer.from('five'));
    expect((await Promise.all(waiting)).map(String)).toEqual(Array(10).fill('five'));
    expect(loads).toBe(1);
    expect(cache.stats).toMatchObject({ hits: 9, misses: 1 });

    await expect(r.get(6, KiB, () => Promise.reject(new Error('medium error')))).rejects.toThrow('medium error');
    expect(r.has(6)).toBe(false);
    expect(cache.stats.bytes).toBe(KiB);
    expect(String(await r.get(6, KiB, () => Promise.resolve(Buffer.from('six'))))).toBe('six');
  });
});

describe('every layer of an image keeps its blocks in the one cache', () => {
  let scratch: string;
  let tree: string;
  beforeAll(async () => {
    scratch = await makeScratch('minescan-blockcache-');
    tree = path.join(scratch, 'tree');
    for (let d = 0; d < 30; d++) {
      await mkdir(path.join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < 40; f++) await writeFile(path.join(tree, `d${d}`, `f${f}`), randomBytes(f * 97));
    }
  });
  afterAll(async () => {
    await removeScratch(scratch);
  });

  /** Opens `image` through a cache of `bytes`, walks it and reads every file; returns the cache and the files read. */
  async function walkThrough(image: string, bytes: number) {
    const cache = new BlockCache(bytes);
    const regions = new Map<string, CacheRegion>();
    const region = cache.region.bind(cache);
    cache.region = (name: string) => {
      const r = region(name);
      regions.set(name, r);
      return r;
    };
    let peak = 0;
    const file = await FileByteSource.open(image);
    const parts = await openImage(new CachedByteSource(file, { cache }), {
      retain: ['/**'],
      files: nowhere('in a test image'),
      counter: { bytesRead: 0 },
      spool: await SpoolBudget.create({ budget: 1 << 30 }),
      cache,
    });
    let files = 0;
    try {
      expect(parts.failures).toEqual([]);
      const vfs = parts.filesystems[0]!.vfs;
      for await (const e of vfs.walk(['/**'])) {
        peak = Math.max(peak, cache.stats.bytes);
        if (e.stat.type !== 'file') continue;
        await vfs.readFile(e.path);
        files++;
      }
    } finally {
      await parts.close();
      await file.close();
    }
    return { stats: { ...cache.stats }, peak, files, regions };
  }

  it.each([
    ['qcow2', ['convert', '-O', 'qcow2'], ['qcow2 L1 pages', 'qcow2 L2 slices']],
    ['vmdk', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized'], ['VMDK grain directory pages', 'VMDK grain tables', 'VMDK inflated grains']],
    ['vhd', ['convert', '-O', 'vpc', '-o', 'subformat=dynamic'], ['VHD block table pages']], // sector bitmaps are read for differencing disks only
    ['vhdx', ['convert', '-O', 'vhdx'], ['VHDX block allocation table pages']],
  ])('ext4 in %s: chunks, container tables and ext4 blocks share the bound', async (format, qemu, containerRegions) => {
    const raw = await makeExt4Image(tree, path.join(scratch, `${format}.raw`), { sizeMiB: 64, blockSize: 4096 });
    const image = path.join(scratch, `${format}.img`);
    await run('qemu-img', [...qemu, raw, image]);

    const small = await walkThrough(image, 256 * KiB);
    expect(small.files).toBe(30 * 40);
    expect(small.peak).toBeLessThanOrEqual(256 * KiB);
    expect(small.stats.evictions).toBeGreaterThan(0);
    for (const name of [...containerRegions, 'ext4 metadata blocks', `chunks of ${image}`]) {
      expect(small.regions.get(name)?.misses, name).toBeGreaterThan(0);
    }
    expect(small.regions.get('ext4 metadata blocks')!.hits).toBeGreaterThan(0);

    // A cache large enough for the whole walk reads each block once: fewer misses, no evictions.
    const large = await walkThrough(image, 64 << 20);
    expect(large.files).toBe(small.files);
    expect(large.stats.evictions).toBe(0);
    expect(large.stats.misses).toBeLessThan(small.stats.misses);
  });

  it('XFS keeps its metadata blocks there too', async () => {
    const image = path.join(scratch, 'xfs.img');
    await xfsFromTreeByProto(tree, image, []);
    const cache = new BlockCache(128 * KiB);
    const source = await FileByteSource.open(image);
    const fs = await XfsFileSystem.open(source, cache);
    const vfs = new RawVfs(fs);
    let peak = 0;
    let files = 0;
    for await (const e of vfs.walk(['/**'])) {
      if (e.stat.type === 'file') files++;
      peak = Math.max(peak, cache.stats.bytes);
    }
    expect(files).toBe(30 * 40);
    expect(cache.stats.misses).toBeGreaterThan(0);
    expect(cache.stats.hits).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(128 * KiB);
    await fs.close();
    await source.close();
    expect(cache.stats.entries).toBe(0);
  });
});
