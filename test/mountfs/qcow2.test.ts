/**
 * qcow2 images made by qemu-img and edited by qemu-io: versions 2 and 3, 512-byte to
 * 2 MiB clusters, zlib and zstd compression, zero clusters, metadata preallocation,
 * extended L2 entries with partly allocated clusters, and backing chains (qcow2 and
 * raw). Every image reads byte for byte as qemu-img's own raw conversion (full MD5 and
 * random ranges); sparse regions of a large image cost only table reads; damaged
 * images give typed errors quickly, and random damage never escapes as another error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { deflateRawSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { isQcow2, Qcow2Source } from '../../mountfs/sources/qcow2/qcow2-source.js';
import { inflateBounded } from '../../mountfs/sources/decompress.js';
import { MountfsError } from '../../mountfs/errors.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import {
  buildRawDisk,
  CountingSource,
  DISK_BYTES,
  md5OfFile,
  md5OfSource,
  MemorySource,
  qcow2Layout,
  qemuImg,
  qemuIo,
  run,
  pokeFile,
  toRaw,
} from '../helpers/container-image.js';
import { expectError } from '../helpers/expect-error.js';
import { expectSameRanges, nearMultiples } from '../helpers/compare-ranges.js';
import { fileSources } from '../helpers/raw-disk.js';

const FUZZ_RUNS = Number(process.env.MINESCAN_FUZZ_RUNS ?? 150);

/** Random ranges, biased to cluster edges and small reads, equal the reference. */
async function compareRandomRanges(src: ByteSource, ref: ByteSource, clusterSize: number, runs = 100): Promise<void> {
  const length = fc.oneof(fc.integer({ min: 0, max: 3 * clusterSize }), fc.integer({ min: 0, max: 3 << 20 }));
  await expectSameRanges(src, ref, nearMultiples(ref.size, clusterSize, 700), length, runs);
}

describe('qcow2 reader', () => {
  let scratch: string;
  let raw: string;
  let rawMd5: string;
  const sources = fileSources();
  const openFile = sources.open;
  const file = (name: string) => path.join(scratch, name);

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-qcow2-');
    raw = await buildRawDisk(scratch, 11);
    rawMd5 = await md5OfFile(raw);
  });
  afterAll(async () => {
    await sources.closeAll();
    if (scratch) await removeScratchDir(scratch);
  });

  const conversions: Array<[string, string[], number]> = [
    ['v3 default', [], 65536],
    ['v2 (compat 0.10)', ['-o', 'compat=0.10'], 65536],
    ['zlib compressed', ['-c'], 65536],
    ['zstd compressed', ['-c', '-o', 'compression_type=zstd'], 65536],
    ['v2 compressed, 4 KiB clusters', ['-c', '-o', 'compat=0.10,cluster_size=4096'], 4096],
    ['4 KiB clusters', ['-o', 'cluster_size=4096'], 4096],
    ['512-byte clusters', ['-o', 'cluster_size=512'], 512],
    ['2 MiB clusters', ['-o', 'cluster_size=2097152'], 2 << 20],
    ['extended L2 entries', ['-o', 'extended_l2=on'], 65536],
    ['zstd compressed, 2 MiB clusters', ['-c', '-o', 'compression_type=zstd,cluster_size=2097152'], 2 << 20],
  ];

  it.each(conversions)('reads a %s image from qemu-img convert byte for byte', async (name, args, clusterSize) => {
    const img = file(`${name.replace(/\W+/g, '_')}.qcow2`);
    await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...args, raw, img);
    const inner = await openFile(img);
    expect(isQcow2(await inner.read(0, 4))).toBe(true);
    const src = await Qcow2Source.open(inner);
    expect(src.size).toBe(DISK_BYTES);
    expect(src.header.clusterSize).toBe(clusterSize);
    expect(await md5OfSource(src)).toBe(rawMd5);
    await compareRandomRanges(src, await openFile(raw), clusterSize, 60);
    expect(src.notes()).toEqual([]);
    if (args.includes('-c')) expect(qcow2Layout(await readFile(img)).compressedEntries.length).toBeGreaterThan(3);
    await src.close();
  });

  it('reads an image whose size is not a multiple of the cluster, plain and compressed', async () => {
    const odd = file('odd.raw');
    // qemu-img rounds virtual sizes up to whole sectors.
    const size = DISK_BYTES + 100 * 1024 + 3 * 512;
    await run('cp', ['--sparse=always', raw, odd]);
    await run('truncate', ['-s', String(size), odd]);
    await pokeFile(odd, size - 70_000, randomBytes(70_000));
    for (const args of [[], ['-c'], ['-c', '-o', 'compression_type=zstd']]) {
      const img = file(`odd${args.length}.qcow2`);
      await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...args, odd, img);
      const src = await Qcow2Source.open(await openFile(img));
      expect(src.size).toBe(size);
      expect(await md5OfSource(src)).toBe(await md5OfFile(odd));
      expect((await src.read(size - 100, 1000)).length).toBe(100);
      await src.close();
    }
  });

  it('reads the active state of an image with internal snapshots, and says so; a dirty image opens with a note', async () => {
    const img = file('snap.qcow2');
    await qemuImg('create', '-f', 'qcow2', img, '16M');
    await qemuIo(img, 'qcow2', ['write -P 0x01 0 1M']);
    await qemuImg('snapshot', '-c', 'before', img);
    await qemuIo(img, 'qcow2', ['write -P 0x02 512k 1M']);
    const src = await Qcow2Source.open(await openFile(img));
    expect(src.notes()).toEqual([expect.stringMatching(/1 internal snapshot\(s\); only the active state is read/)]);
    expect(await md5OfSource(src)).toBe(await md5OfFile(await toRaw(img, 'qcow2')));
    expect((await src.read(0, 4)).equals(Buffer.alloc(4, 1))).toBe(true);
    expect((await src.read(512 * 1024, 4)).equals(Buffer.alloc(4, 2))).toBe(true);

    const dirty = Buffer.from(await readFile(img));
    dirty.writeBigUInt64BE(dirty.readBigUInt64BE(72) | 1n | 2n, 72);
    const d = await Qcow2Source.open(new MemorySource(dirty));
    expect(d.notes().join('\n')).toMatch(/dirty bit set[^]*corrupt bit set/);
    expect((await d.read(512 * 1024, 4)).equals(Buffer.alloc(4, 2))).toBe(true);
  });

  it('reads zero clusters, preallocated zero clusters and partial writes made by qemu-io', async () => {
    const img = file('zeroes.qcow2');
    await qemuImg('create', '-f', 'qcow2', '-o', 'preallocation=metadata,cluster_size=4096', img, '64M');
    await qemuIo(img, 'qcow2', ['write -P 0x11 0 1M', 'write -P 0x22 3M 12800', 'write -z 256k 64k', 'write -P 0x33 40M 4096', 'write -z -u 512k 8k']);
    const ref = await toRaw(img, 'qcow2');
    const src = await Qcow2Source.open(await openFile(img));
    expect(await md5OfSource(src)).toBe(await md5OfFile(ref));
    await compareRandomRanges(src, await openFile(ref), 4096, 60);
  });

  it('reads extended L2 subclusters: allocated, zero and unallocated over a backing file', async () => {
    const base = file('ext-base.qcow2');
    await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, base);
    const top = file('ext-top.qcow2');
    await qemuImg('create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=65536', '-b', 'ext-base.qcow2', '-F', 'qcow2', top);
    await qemuIo(top, 'qcow2', ['write -P 0x41 1M 2048', 'write -P 0x42 2105344 4k', 'write -z 48M 2k', 'write -P 0x43 62980096 70k', 'write -z 20M 128k']);
    const ref = await toRaw(top, 'qcow2');
    const src = await Qcow2Source.open(await openFile(top), { allowBacking: true, openBacking: (n) => openFile(file(n)) });
    expect(src.header.extendedL2).toBe(true);
    expect(await md5OfSource(src)).toBe(await md5OfFile(ref));
    await compareRandomRanges(src, await openFile(ref), 2048, 80);
    await src.close();
  });

  describe('backing files', () => {
    let base: string;
    let overlay: string;
    let ref: string;
    beforeAll(async () => {
      base = file('base.qcow2');
      await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, base);
      overlay = file('overlay.qcow2');
      // The overlay is larger than its base: the tail past the base reads as zeros.
      await qemuImg('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', overlay, '80M');
      await qemuIo(overlay, 'qcow2', ['write -P 0xab 1M 64k', 'write -z 2M 4k', 'write -P 0xcd 50332160 1536', 'write -P 0xef 70M 8k']);
      ref = await toRaw(overlay, 'qcow2');
    });

    it('refuses an image with a backing file unless allowed, naming the file', async () => {
      const err = await expectError(Qcow2Source.open(await openFile(overlay)), 'unsupported', /qcow2 image has a backing file base\.qcow2; rerun with --allow-backing/);
      expect(err.structure).toBe('qcow2 backing file');
      await expectError(Qcow2Source.open(await openFile(overlay), { allowBacking: true }), 'unsupported', /cannot open other files/);
    });

    it('reads an overlay through its qcow2 backing file', async () => {
      const names: string[] = [];
      const src = await Qcow2Source.open(await openFile(overlay), {
        allowBacking: true,
        openBacking: async (n) => {
          names.push(n);
          return openFile(file(n));
        },
      });
      expect(names).toEqual(['base.qcow2']);
      expect(src.size).toBe(80 << 20);
      expect(await md5OfSource(src)).toBe(await md5OfFile(ref));
      await compareRandomRanges(src, await openFile(ref), 65536, 60);
      expect(src.notes()).toContain('qcow2 backing file base.qcow2');
      await src.close();
    });

    it('reads a chain of three and a raw backing file', async () => {
      const mid = file('mid.qcow2');
      await qemuImg('create', '-f', 'qcow2', '-b', 'overlay.qcow2', '-F', 'qcow2', mid);
      await qemuIo(mid, 'qcow2', ['write -P 0x77 1081344 64k']);
      const rawTop = file('rawtop.qcow2');
      await qemuImg('create', '-f', 'qcow2', '-b', path.basename(raw), '-F', 'raw', rawTop);
      await qemuIo(rawTop, 'qcow2', ['write -P 0x99 5M 100k']);
      const openBacking = (n: string) => openFile(file(n));
      for (const img of [mid, rawTop]) {
        const src = await Qcow2Source.open(await openFile(img), { allowBacking: true, openBacking });
        expect(await md5OfSource(src)).toBe(await md5OfFile(await toRaw(img, 'qcow2')));
        await src.close();
      }
    });

    it('stops a backing chain that loops, and reports a backing file that cannot be opened', async () => {
      const loop = file('loop.qcow2');
      await qemuImg('create', '-f', 'qcow2', '-u', '-b', 'loop.qcow2', '-F', 'qcow2', loop, '64M');
      let opens = 0;
      await expectError(
        Qcow2Source.open(await openFile(loop), {
          allowBacking: true,
          openBacking: (n) => {
            opens++;
            return openFile(file(n));
          },
        }),
        'limit',
        /more than 16 backing files/,
      );
      expect(opens).toBe(16);
      const missing = file('missing-base.qcow2');
      await qemuImg('create', '-f', 'qcow2', '-u', '-b', 'gone.qcow2', '-F', 'qcow2', missing, '64M');
      await expectError(Qcow2Source.open(await openFile(missing), { allowBacking: true, openBacking: (n) => FileByteSource.open(file(n)) }), 'not-found');
      const vmdkBase = file('vmdk-base.qcow2');
      await qemuImg('create', '-f', 'qcow2', '-u', '-b', 'x.vmdk', '-F', 'vmdk', vmdkBase, '64M');
      await expectError(Qcow2Source.open(await openFile(vmdkBase), { allowBacking: true, openBacking: (n) => openFile(file(n)) }), 'unsupported', /vmdk format/);
    });
  });

  it('reads a sparse 8 GiB image lazily: a hole costs table reads, data costs one merged read', async () => {
    const img = file('big.qcow2');
    await qemuImg('create', '-f', 'qcow2', img, '8G');
    await qemuIo(img, 'qcow2', ['write -P 0x5c 5368709120 4M', 'write -P 0x3a 7528834048 1M']);
    const counting = new CountingSource(await openFile(img));
    const src = await Qcow2Source.open(counting);
    expect(src.size).toBe(8 * 1024 ** 3);
    expect(counting.bytesRead).toBeLessThanOrEqual(4096);

    counting.reset();
    const hole = await src.read(3 * 1024 ** 3 + 777, 1 << 20);
    expect(hole.equals(Buffer.alloc(1 << 20))).toBe(true);
    expect(counting.bytesRead).toBeLessThanOrEqual(8192); // an L1 page (the L1 entry is empty)

    counting.reset();
    const data = await src.read(5 * 1024 ** 3 + 512 * 1024, 1 << 20);
    expect(data.equals(Buffer.alloc(1 << 20, 0x5c))).toBe(true);
    expect(counting.bytesRead).toBeLessThanOrEqual((1 << 20) + 16384);
    expect(counting.reads).toBeLessThanOrEqual(4); // L1 page, L2 slice, one merged data read

    counting.reset();
    const hole2 = await src.read(5 * 1024 ** 3 + (64 << 20), 1 << 20);
    expect(hole2.equals(Buffer.alloc(1 << 20))).toBe(true);
    expect(counting.bytesRead).toBeLessThanOrEqual(8192);
    await src.close();
  });

  describe('damaged images', () => {
    let v3: Buffer;
    let compressed: Buffer;
    let zstd: Buffer;
    beforeAll(async () => {
      const a = file('dmg.qcow2');
      await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', raw, a);
      v3 = await readFile(a);
      const c = file('dmg-c.qcow2');
      await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-c', raw, c);
      compressed = await readFile(c);
      const z = file('dmg-z.qcow2');
      await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-c', '-o', 'compression_type=zstd', raw, z);
      zstd = await readFile(z);
    });

    const patched = (img: Buffer, edit: (b: Buffer) => void): MemorySource => {
      const copy = Buffer.from(img);
      edit(copy);
      return new MemorySource(copy);
    };
    const readAll = async (src: ByteSource) => {
      for (let at = 0; at < src.size; at += 4 << 20) await src.read(at, 4 << 20);
    };

    it('refuses bad header fields', async () => {
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeUInt32BE(40, 20))), 'corrupt', /cluster_bits 40/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeUInt32BE(1, 4))), 'unsupported', /qcow version 1/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeBigUInt64BE(BigInt(v3.length + 4096 * 10), 40))), 'corrupt', /L1 table .* past the end/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeBigUInt64BE(4096n * 3n + 8n, 40))), 'corrupt', /L1 table offset/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeUInt32BE(1, 36))), 'corrupt', /cannot map/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeBigUInt64BE(1n << 52n, 24))), 'corrupt', /cannot map|larger than qemu/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeBigUInt64BE(1n << 40n, 72))), 'unsupported', /unknown incompatible features: bit 40/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeUInt32BE(2, 32))), 'unsupported', /encrypted \(LUKS\)/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeUInt32BE(20, 100))), 'corrupt', /header_length/);
      await expectError(Qcow2Source.open(patched(v3, (b) => b.writeBigUInt64BE(1n << 3n, 72))), 'corrupt', /compression type bit/);
      await expectError(Qcow2Source.open(new MemorySource(v3.subarray(0, 50))), 'corrupt', /only 50 bytes/);
      await expectError(Qcow2Source.open(new MemorySource(Buffer.alloc(4096))), 'corrupt', /magic/);
    });

    it('refuses encrypted images and external data files made by qemu-img', async () => {
      const enc = file('enc.qcow2');
      // qemu-img times its LUKS key derivation by CPU usage and sometimes cannot measure it
      // on a loaded machine ("Unable to get accurate CPU usage"): try the setup again.
      for (let attempt = 1; ; attempt++) {
        try {
          await qemuImg('create', '--object', 'secret,id=sec0,data=minescan', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=sec0', enc, '16M');
          break;
        } catch (err) {
          if (attempt >= 5 || !/accurate CPU usage/.test(String(err))) throw err;
        }
      }
      await expectError(Qcow2Source.open(await openFile(enc)), 'unsupported', /encrypted \(LUKS\)/);
      const ext = file('ext-data.qcow2');
      await qemuImg('create', '-f', 'qcow2', '-o', `data_file=${file('ext-data.raw')}`, ext, '16M');
      await expectError(Qcow2Source.open(await openFile(ext)), 'unsupported', /separate data file \(.*ext-data\.raw\)/);
    });

    it('reports L2 tables and clusters outside the file, and a truncated file', async () => {
      const l = qcow2Layout(v3);
      const l2Past = patched(v3, (b) => b.writeBigUInt64BE(BigInt(v3.length + (1 << 20)) | (1n << 63n), l.l1Offset));
      await expectError(Qcow2Source.open(l2Past).then(readAll), 'corrupt', /L2 table at .* past the end/);
      const dataPast = patched(v3, (b) => b.writeBigUInt64BE(BigInt(v3.length + (64 << 20)) | (1n << 63n), l.dataEntryAt!));
      await expectError(Qcow2Source.open(dataPast).then(readAll), 'corrupt', /data cluster at .* past the end/);
      const unaligned = patched(v3, (b) => b.writeBigUInt64BE(b.readBigUInt64BE(l.dataEntryAt!) + 512n, l.dataEntryAt!));
      await expectError(Qcow2Source.open(unaligned).then(readAll), 'corrupt', /not cluster-aligned/);
      await expectError(Qcow2Source.open(new MemorySource(v3.subarray(0, Math.floor(v3.length / 2)))).then(readAll), 'corrupt');
    });

    it('reports compressed clusters whose recorded size lies', async () => {
      for (const img of [compressed, zstd]) {
        const l = qcow2Layout(img);
        const x = 62n - BigInt(l.clusterBits - 8);
        const sectorsOf = (at: number) => (img.readBigUInt64BE(at) >> x) & ((1n << (62n - x)) - 1n);
        // A cluster of random bytes: its compressed data spans many sectors.
        const at = l.compressedEntries.find((e) => sectorsOf(e) > 8n)!;
        const entry = img.readBigUInt64BE(at);
        // No additional sectors: the data is cut to the rest of one sector.
        const short = patched(img, (b) => b.writeBigUInt64BE(entry & ~(((1n << (62n - x)) - 1n) << x), at));
        await expectError(Qcow2Source.open(short).then(readAll), 'corrupt', /compressed cluster/);
        // Pointing into the middle of other data: garbage that does not inflate to a cluster.
        const moved = patched(img, (b) => b.writeBigUInt64BE(entry + 7n, at));
        await expectError(Qcow2Source.open(moved).then(readAll), 'corrupt', /compressed cluster/);
      }
    });

    it('caps inflation of hostile compressed data', () => {
      const where = { structure: 'test', offset: 0 };
      const bomb = deflateRawSync(Buffer.alloc(64 << 20));
      expect(() => inflateBounded(bomb, 'deflate-raw', 65536, where)).toThrow(/more than 65536 bytes/);
      const magic = [0x28, 0xb5, 0x2f, 0xfd];
      // A window descriptor asking for a 2 TiB window.
      const window = Buffer.from([...magic, 0x00, 0xf8, 0x01, 0x00, 0x00]);
      expect(() => inflateBounded(window, 'zstd', 65536, where)).toThrow(/window of/);
      // A single-segment frame header declaring 1 GiB of content.
      const big = Buffer.from([...magic, 0xa0, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00]);
      expect(() => inflateBounded(big, 'zstd', 65536, where)).toThrow(/declares 1073741824 bytes/);
      // 40 RLE blocks of 128 KiB each: 5 MiB from 160 bytes.
      const rleBlock = (last: boolean) => {
        const h = ((128 * 1024) << 3) | (1 << 1) | (last ? 1 : 0);
        return [h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x61];
      };
      const rle = Buffer.from([...magic, 0x00, 0x50, ...Array.from({ length: 40 }, (_, i) => rleBlock(i === 39)).flat()]);
      expect(() => inflateBounded(rle, 'zstd', 65536, where)).toThrow(/regenerate more than/);
    });

    it('survives random damage to the header and tables (fuzz)', async () => {
      // [image, damaged range, guest offset that reads through it (or -1)]
      const targets: Array<[Buffer, number, number, number]> = [];
      for (const img of [v3, compressed, zstd]) {
        const l = qcow2Layout(img);
        const cs = 2 ** l.clusterBits;
        targets.push([img, 0, 512, -1], [img, l.l1Offset, l.l1Offset + l.l1Size * 8, -1], [img, l.firstL2, l.firstL2 + cs, -1]);
        const x = 62n - BigInt(l.clusterBits - 8);
        // The compressed bytes of a few clusters: what zlib and the zstd frame walker see.
        l.compressedEntries.forEach((at, i) => {
          if (i % 97 !== 0) return;
          const host = Number(img.readBigUInt64BE(at) & ((1n << x) - 1n));
          targets.push([img, host, host + 512, l.compressedGuests[i]!]);
        });
      }
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: targets.length - 1 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }),
          fc.array(fc.integer({ min: 0, max: DISK_BYTES }), { minLength: 1, maxLength: 8 }),
          async (t, flips, reads) => {
            const [img, from, to, guest] = targets[t]!;
            const copy = Buffer.from(img);
            for (const [r, v] of flips) copy[from + (r % (to - from))] = v;
            try {
              const src = await Qcow2Source.open(new MemorySource(copy));
              for (const at of guest >= 0 ? [guest, ...reads] : reads) await src.read(at, 200_000).catch(rethrowUntyped);
              await src.close();
            } catch (err) {
              rethrowUntyped(err);
            }
          },
        ),
        { numRuns: FUZZ_RUNS, interruptAfterTimeLimit: 90_000 },
      );
    });
  });

  it('detects qcow2 by its magic only', async () => {
    expect(isQcow2(Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'))).toBe(true);
    expect(isQcow2(Buffer.from('QFI', 'latin1'))).toBe(false);
    expect(isQcow2(await (await openFile(raw)).read(0, 512))).toBe(false);
  });
});

function rethrowUntyped(err: unknown): void {
  if (!(err instanceof MountfsError)) throw err;
}
