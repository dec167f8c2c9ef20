/**
 * VMDK disks made by qemu-img (monolithicSparse, streamOptimized, monolithicFlat,
 * twoGbMaxExtentSparse/Flat, zeroed grains written by qemu-io), a VMware-style
 * stream-optimized file with its grain directory in the footer, and a hand-written
 * descriptor mixing FLAT, VMFS, ZERO and SPARSE extents. Every disk reads byte for byte
 * as its raw source (full MD5 and random ranges, across extent boundaries); sparse
 * regions of a large disk cost only table reads; extent names cannot leave the
 * descriptor's directory; damaged files give typed errors, and random damage never
 * escapes as another error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { isVmdk, resolveExtentPath, VmdkSource } from '../../mountfs/sources/vmdk/vmdk-source.js';
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
  pokeFile,
  qemuImg,
  qemuIo,
  run,
  toRaw,
  vmdkLayout,
  writeCompressedVmdk,
} from '../helpers/container-image.js';
import { expectError } from '../helpers/expect-error.js';
import { expectSameRanges, nearPoints } from '../helpers/compare-ranges.js';
import { fileSources } from '../helpers/raw-disk.js';

const FUZZ_RUNS = Number(process.env.MINESCAN_FUZZ_RUNS ?? 150);
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Random ranges, biased to the given edges (grain or extent boundaries), equal the reference. */
async function compareRandomRanges(src: ByteSource, ref: ByteSource, edges: number[], runs = 80): Promise<void> {
  const length = fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 3 * MiB }));
  await expectSameRanges(src, ref, nearPoints(ref.size, edges, 70_000), length, runs);
}

const grainEdges = (size: number) => Array.from({ length: 32 }, (_, i) => Math.floor((size / 32) * i / 65536) * 65536);

describe('VMDK reader', () => {
  let scratch: string;
  let raw: string;
  let rawMd5: string;
  const sources = fileSources();
  const openFile = sources.open;
  const file = (name: string) => path.join(scratch, name);
  /** What the lead's scanner will do: names resolved beside the descriptor, then opened read-only. */
  const besides = (descriptor: string) => ({ openExtent: (name: string) => openFile(resolveExtentPath(descriptor, name)) });

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-vmdk-');
    raw = await buildRawDisk(scratch, 23);
    rawMd5 = await md5OfFile(raw);
  });
  afterAll(async () => {
    await sources.closeAll();
    if (scratch) await removeScratchDir(scratch);
  });

  it.each(['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'])(
    'reads a %s disk from qemu-img convert byte for byte',
    async (subformat) => {
      const img = file(`${subformat}.vmdk`);
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, img);
      const inner = await openFile(img);
      expect(isVmdk(await inner.read(0, 512))).toBe(true);
      const src = await VmdkSource.open(inner, besides(img));
      expect(src.size).toBe(DISK_BYTES);
      expect(await md5OfSource(src)).toBe(rawMd5);
      await compareRandomRanges(src, await openFile(raw), grainEdges(DISK_BYTES), 50);
      if (subformat === 'monolithicSparse' || subformat === 'streamOptimized') expect(src.embeddedDescriptor).toContain(`createType="${subformat}"`);
      await src.close();
    },
  );

  it('reads a VMware-style stream-optimized disk whose grain directory is in the footer (GD_AT_END)', async () => {
    const img = file('gd-at-end.vmdk');
    await writeCompressedVmdk(raw, img);
    const head = await readFile(img);
    expect(head.readBigUInt64LE(56)).toBe(0xffff_ffff_ffff_ffffn);
    const src = await VmdkSource.open(await openFile(img));
    expect(src.description).toMatch(/stream-optimized/);
    expect(await md5OfSource(src)).toBe(rawMd5);
    await compareRandomRanges(src, await openFile(raw), grainEdges(DISK_BYTES), 50);
  });

  it('reads compressed grains without markers (grain directory in the header)', async () => {
    const img = file('no-markers.vmdk');
    await writeCompressedVmdk(raw, img, { streaming: false, grainSectors: 16 });
    const src = await VmdkSource.open(await openFile(img));
    expect(await md5OfSource(src)).toBe(rawMd5);
    await compareRandomRanges(src, await openFile(raw), grainEdges(DISK_BYTES), 40);
  });

  it('reads disks whose size is not a multiple of the grain (a partial last grain)', async () => {
    const odd = file('odd.raw');
    const size = DISK_BYTES + 100 * 1024 + 3 * 512;
    await run('cp', ['--sparse=always', raw, odd]);
    await run('truncate', ['-s', String(size), odd]);
    await pokeFile(odd, size - 70_000, randomBytes(70_000));
    for (const subformat of ['monolithicSparse', 'streamOptimized']) {
      const img = file(`odd-${subformat}.vmdk`);
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, odd, img);
      const src = await VmdkSource.open(await openFile(img));
      expect(src.size).toBe(size);
      expect(await md5OfSource(src)).toBe(await md5OfFile(odd));
      await compareRandomRanges(src, await openFile(odd), [size - 70_000, size - 65536, size], 30);
    }
    const mine = file('odd-gd-at-end.vmdk');
    await writeCompressedVmdk(odd, mine);
    expect(await md5OfSource(await VmdkSource.open(await openFile(mine)))).toBe(await md5OfFile(odd));
  });

  it('reads zeroed grains (grain table entry 1) written by qemu-io', async () => {
    const img = file('zeroed.vmdk');
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'zeroed_grain=on', raw, img);
    await qemuIo(img, 'vmdk', ['write -z 1M 256k', 'write -z 48M 64k', 'write -P 0x6b 3M 4k']);
    const img2 = await readFile(img);
    const l = vmdkLayout(img2);
    let ones = 0;
    for (let at = l.gtAt; at < l.gtAt + 2048; at += 4) if (img2.readUInt32LE(at) === 1) ones++;
    expect(ones).toBeGreaterThan(0);
    const ref = await toRaw(img, 'vmdk');
    const src = await VmdkSource.open(await openFile(img));
    expect(await md5OfSource(src)).toBe(await md5OfFile(ref));
  });

  it('reads a descriptor mixing FLAT (at an offset), VMFS, ZERO and SPARSE extents', async () => {
    const junk = randomBytes(MiB);
    const rawBytes = await readFile(raw);
    await writeFile(file('mix-flat.bin'), Buffer.concat([junk, rawBytes.subarray(0, 16 * MiB)]));
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', raw, file('mix-sparse.vmdk'));
    const descriptor = file('mix.vmdk');
    await writeFile(
      descriptor,
      [
        '# Disk DescriptorFile',
        'version=1',
        'CID=fffffffe',
        'parentCID=ffffffff',
        'createType="custom"',
        '',
        '# Extent description',
        'RW 32768 FLAT "mix-flat.bin" 2048',
        'RW 16384 ZERO',
        'RDONLY 2048 VMFS "mix-flat.bin" 0',
        'RW 131072 SPARSE "mix-sparse.vmdk"',
        'NOACCESS 0 ZERO',
        '',
        'ddb.adapterType = "lsilogic"',
        '',
      ].join('\r\n'),
    );
    const expected = Buffer.concat([rawBytes.subarray(0, 16 * MiB), Buffer.alloc(8 * MiB), junk, rawBytes]);
    const names: string[] = [];
    const src = await VmdkSource.open(await openFile(descriptor), {
      openExtent: (n) => {
        names.push(n);
        return openFile(resolveExtentPath(descriptor, n));
      },
    });
    expect(src.size).toBe(expected.length);
    expect(names).toEqual([]); // extents are opened on first use
    expect(await md5OfSource(src, 3 * MiB + 4096)).toBe(md5OfBuffer(expected));
    expect(names.sort()).toEqual(['mix-flat.bin', 'mix-sparse.vmdk']);
    const edges = [0, 16 * MiB, 24 * MiB, 25 * MiB, expected.length];
    await compareRandomRanges(src, new MemorySource(expected), edges, 120);
    await src.close();
  });

  it('reads a 4.2 GiB twoGbMaxExtent disk across its extent boundaries', async () => {
    const big = file('big.raw');
    await run('truncate', ['-s', String(4 * GiB + 200 * MiB), big]);
    const marks = [0, 2 * GiB - 3 * MiB, 2 * GiB - 65536 - 100, 4 * GiB - 1 * MiB, 4 * GiB + 199 * MiB];
    const bigSize = 4 * GiB + 200 * MiB;
    for (const at of marks) await pokeFile(big, at, randomBytes(Math.min(2 * MiB, bigSize - at)));
    for (const subformat of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
      const img = file(`big-${subformat}.vmdk`);
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, big, img);
      const text = await readFile(img, 'utf8');
      const sizes = [...text.matchAll(/^RW (\d+) (?:SPARSE|FLAT) /gm)].map((m) => Number(m[1]) * 512);
      expect(sizes.length).toBeGreaterThan(2);
      const edges = sizes.map((_, i) => sizes.slice(0, i + 1).reduce((a, b) => a + b, 0));
      const src = await VmdkSource.open(await openFile(img), besides(img));
      const ref = await openFile(big);
      expect(src.size).toBe(ref.size);
      await compareRandomRanges(src, ref, [...edges, ...marks], 60);
      for (const at of marks) expect((await src.read(at, 2 * MiB)).equals(await ref.read(at, 2 * MiB))).toBe(true);
      await src.close();
    }
  });

  describe('laziness on an 8 GiB disk', () => {
    it.each(['monolithicSparse', 'streamOptimized'])('reads a hole of a %s disk with table reads only', async (subformat) => {
      const sparseRaw = file(`lazy-${subformat}.raw`);
      await run('truncate', ['-s', String(8 * GiB), sparseRaw]);
      await pokeFile(sparseRaw, 5 * GiB, Buffer.alloc(2 * MiB, 0x5c));
      await pokeFile(sparseRaw, 5 * GiB + 2 * MiB, randomBytes(MiB));
      const img = file(`lazy-${subformat}.vmdk`);
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, sparseRaw, img);
      const counting = new CountingSource(await openFile(img));
      const src = await VmdkSource.open(counting);
      expect(src.size).toBe(8 * GiB);
      expect(counting.bytesRead).toBeLessThanOrEqual(16 * 1024); // header and embedded descriptor

      counting.reset();
      const hole = await src.read(3 * GiB + 4321, MiB);
      expect(hole.equals(Buffer.alloc(MiB))).toBe(true);
      expect(counting.bytesRead).toBeLessThanOrEqual(8 * 1024); // a directory page and a grain table

      counting.reset();
      const data = await src.read(5 * GiB + 512 * 1024, MiB);
      expect(data.equals(Buffer.alloc(MiB, 0x5c))).toBe(true);
      if (subformat === 'monolithicSparse') expect(counting.bytesRead).toBeLessThanOrEqual(MiB + 8 * 1024);
      else expect(counting.bytesRead).toBeLessThanOrEqual(64 * 1024); // 16 compressed grains of one byte value
      const ref = await openFile(sparseRaw);
      await compareRandomRanges(src, ref, [5 * GiB, 5 * GiB + 2 * MiB, 5 * GiB + 3 * MiB], 30);
    });
  });

  describe('extent names', () => {
    it('resolves plain names beside the descriptor and refuses escapes', () => {
      expect(resolveExtentPath('/images/vm/disk.vmdk', 'disk-flat.vmdk')).toBe('/images/vm/disk-flat.vmdk');
      expect(resolveExtentPath('/images/vm/disk.vmdk', 'a..b.vmdk')).toBe('/images/vm/a..b.vmdk');
      for (const bad of ['../secret', '..', '.', '', '/etc/shadow', 'sub/x.vmdk', '..\\x', 'a\0b']) {
        expect(() => resolveExtentPath('/images/vm/disk.vmdk', bad)).toThrow(MountfsError);
      }
    });

    it('refuses a descriptor naming an extent outside its directory before opening anything', async () => {
      for (const name of ['../../etc/passwd', '/dev/sda', 'x/../../y']) {
        const opens: string[] = [];
        const text = `# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "${name}" 0\n`;
        await expectError(VmdkSource.open(new MemorySource(Buffer.from(text)), { openExtent: async (n) => (opens.push(n), new MemorySource(Buffer.alloc(0))) }), 'corrupt', /not a plain file name/);
        expect(opens).toEqual([]);
      }
    });
  });

  describe('refused and damaged disks', () => {
    let ms: Buffer;
    let so: Buffer;
    let gdEnd: Buffer;
    beforeAll(async () => {
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', raw, file('d-ms.vmdk'));
      ms = await readFile(file('d-ms.vmdk'));
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, file('d-so.vmdk'));
      so = await readFile(file('d-so.vmdk'));
      await writeCompressedVmdk(raw, file('d-end.vmdk'));
      gdEnd = await readFile(file('d-end.vmdk'));
    });

    const patched = (img: Buffer, edit: (b: Buffer) => void): MemorySource => {
      const copy = Buffer.from(img);
      edit(copy);
      return new MemorySource(copy);
    };
    const readAll = async (src: ByteSource) => {
      for (let at = 0; at < src.size; at += 4 * MiB) await src.read(at, 4 * MiB);
    };
    const desc = (lines: string[]) => new MemorySource(Buffer.from(['# Disk DescriptorFile', 'version=1', ...lines, ''].join('\n')));

    it('refuses delta disks, ESX-only extents, device maps and descriptors it cannot follow', async () => {
      await qemuImg('create', '-f', 'vmdk', '-b', 'd-ms.vmdk', '-F', 'vmdk', file('child.vmdk'));
      await expectError(VmdkSource.open(await openFile(file('child.vmdk'))), 'unsupported', /delta over parent d-ms\.vmdk/);
      await expectError(VmdkSource.open(desc(['parentCID=12345678', 'parentFileNameHint="base.vmdk"', 'RW 2048 SPARSE "d.vmdk"'])), 'unsupported', /delta over parent base\.vmdk/);
      await expectError(VmdkSource.open(desc(['RW 2048 VMFSSPARSE "d-delta.vmdk"']), { openExtent: async () => new MemorySource(Buffer.alloc(0)) }), 'unsupported', /COWD/);
      await expectError(VmdkSource.open(desc(['RW 2048 SESPARSE "d-sesparse.vmdk"'])), 'unsupported', /space-efficient/);
      await expectError(VmdkSource.open(desc(['createType="fullDevice"', 'RW 2048 FLAT "/dev/sdb" 0'])), 'unsupported', /physical devices/);
      await expectError(VmdkSource.open(desc(['RW 2048 FLAT "d-flat.vmdk" 0'])), 'unsupported', /cannot open other files/);
      await expectError(VmdkSource.open(desc(['RW 2048 WEIRD "d.vmdk"'])), 'corrupt', /unknown extent type/);
      await expectError(VmdkSource.open(desc(Array.from({ length: 5000 }, () => 'RW 1 ZERO'))), 'limit', /more than 4096 extents/);
      await expectError(VmdkSource.open(new MemorySource(Buffer.concat([Buffer.from('# Disk DescriptorFile\n'), Buffer.alloc(2 * MiB, 0x20)]))), 'limit');
      await expectError(VmdkSource.open(new MemorySource(Buffer.from('just some bytes'))), 'corrupt', /neither/);
      // Only ZERO extents: no file needed.
      const zeros = await VmdkSource.open(desc(['RW 4096 ZERO', 'RW 10 ZERO']));
      expect(zeros.size).toBe(4106 * 512);
      expect((await zeros.read(2000 * 512, 10_000)).equals(Buffer.alloc(10_000))).toBe(true);
    });

    it('reports extent files that are missing, short, or smaller than the descriptor says', async () => {
      const opener = (files: Record<string, Buffer>) => ({
        openExtent: async (n: string) => {
          const f = files[n];
          if (!f) return FileByteSource.open(file(`no-such-${n}`));
          return new MemorySource(f);
        },
      });
      const missing = await VmdkSource.open(desc(['RW 2048 FLAT "gone-flat.vmdk" 0']), opener({}));
      await expectError(missing.read(0, 512), 'not-found');
      const short = await VmdkSource.open(desc(['RW 2048 FLAT "short.vmdk" 1']), opener({ 'short.vmdk': Buffer.alloc(2048 * 512) }));
      await expectError(short.read(2047 * 512, 512), 'corrupt', /ends before the extent does/);
      const small = await VmdkSource.open(desc([`RW ${2 * DISK_BYTES / 512} SPARSE "s.vmdk"`]), opener({ 's.vmdk': ms }));
      await expectError(small.read(0, 512), 'corrupt', /holds .* bytes, the descriptor says/);
      const notSparse = await VmdkSource.open(desc(['RW 2048 SPARSE "s.vmdk"']), opener({ 's.vmdk': Buffer.alloc(4096) }));
      await expectError(notSparse.read(0, 512), 'corrupt', /KDMV/);
    });

    it('refuses bad sparse headers', async () => {
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeUInt32LE(4, 4))), 'unsupported', /version 4/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeBigUInt64LE(0n, 20))), 'corrupt', /grain size of 0/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeBigUInt64LE(1n << 40n, 20))), 'corrupt', /grain size/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeUInt32LE(0, 44))), 'corrupt', /entries per grain table/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeBigUInt64LE(1n << 50n, 12))), 'corrupt', /capacity/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeBigUInt64LE(1n << 40n, 12))), 'corrupt', /grain directory/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeBigUInt64LE(BigInt(ms.length), 56))), 'corrupt', /grain directory/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.write('\r\n\n ', 73, 'latin1'))), 'corrupt', /text mode/);
      await expectError(VmdkSource.open(patched(so, (b) => b.writeUInt16LE(2, 77))), 'unsupported', /compression algorithm 2/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeBigUInt64LE(1n << 30n, 36))), 'limit', /embedded descriptor/);
      await expectError(VmdkSource.open(new MemorySource(ms.subarray(0, 300))), 'corrupt', /only 300 of 512/);
    });

    it('reports grain tables and grains outside the file or inside the tables', async () => {
      const l = vmdkLayout(ms);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeUInt32LE(ms.length / 512 + 10, l.gdOffset))).then(readAll), 'corrupt', /grain table at sector .* past the end/);
      await expectError(VmdkSource.open(patched(ms, (b) => b.writeUInt32LE(ms.length / 512 + 10, l.grainEntryAt))).then(readAll), 'corrupt', /past the end/);
      // Every entry of a grain table pointing at the table itself: qemu keeps its tables in the
      // metadata area at the start; a streaming writer puts them after the grains.
      const selfRef = (img: Buffer, gtAt: number) =>
        patched(img, (b) => {
          for (let e = 0; e < 512; e++) b.writeUInt32LE(gtAt / 512, gtAt + e * 4);
        });
      await expectError(VmdkSource.open(selfRef(ms, l.gtAt)).then(readAll), 'corrupt', /grain at sector \d+ lies in the metadata area/);
      const e = vmdkLayout(gdEnd);
      await expectError(VmdkSource.open(selfRef(gdEnd, e.gtAt)).then(readAll), 'corrupt', /inside the grain table that names it/);
      const intoDirectory = patched(gdEnd, (b) => b.writeUInt32LE(e.gdOffset / 512, e.grainEntryAt));
      await expectError(VmdkSource.open(intoDirectory).then(readAll), 'corrupt', /inside the grain directory/);
      const intoGd = patched(ms, (b) => b.writeUInt32LE(l.gdOffset / 512, l.grainEntryAt));
      await expectError(VmdkSource.open(intoGd).then(readAll), 'corrupt', /metadata area|grain directory/);
      const intoHeader = patched(ms, (b) => b.writeUInt32LE(2, l.grainEntryAt));
      await expectError(VmdkSource.open(intoHeader).then(readAll), 'corrupt', /metadata area/);
      await expectError(VmdkSource.open(new MemorySource(ms.subarray(0, ms.length - 100_000))).then(readAll), 'corrupt');
    });

    it('reports compressed grains whose markers lie', async () => {
      for (const img of [so, gdEnd]) {
        const l = vmdkLayout(img);
        const grainAt = img.readUInt32LE(l.grainEntryAt) * 512;
        const size = img.readUInt32LE(grainAt + 8);
        await expectError(VmdkSource.open(patched(img, (b) => b.writeUInt32LE(4 * MiB, grainAt + 8))).then(readAll), 'corrupt', /compressed size/);
        await expectError(VmdkSource.open(patched(img, (b) => b.writeUInt32LE(Math.floor(size / 2), grainAt + 8))).then(readAll), 'corrupt', /compressed grain/);
        await expectError(VmdkSource.open(patched(img, (b) => b.writeBigUInt64LE(b.readBigUInt64LE(grainAt) + 128n, grainAt))).then(readAll), 'corrupt', /marker names sector/);
        await expectError(VmdkSource.open(patched(img, (b) => b.fill(0x55, grainAt + 12, grainAt + 40))).then(readAll), 'corrupt', /zlib data is damaged/);
        await expectError(VmdkSource.open(patched(img, (b) => b.writeUInt32LE(0, grainAt + 8))).then(readAll), 'corrupt', /metadata marker/);
        await expectError(VmdkSource.open(new MemorySource(img.subarray(0, grainAt + 100))).then(readAll), 'corrupt');
      }
      await expectError(VmdkSource.open(new MemorySource(gdEnd.subarray(0, gdEnd.length - 1536))), 'corrupt', /footer/);
      await expectError(VmdkSource.open(patched(gdEnd, (b) => b.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, b.length - 1024 + 56))), 'corrupt', /footer, too/);
    });

    it('survives random damage to headers, directories, tables and markers (fuzz)', async () => {
      const regions: Array<[Buffer, number, number]> = [];
      for (const img of [ms, so, gdEnd]) {
        const l = vmdkLayout(img);
        regions.push([img, 0, 512], [img, l.gdOffset, l.gdOffset + 512], [img, l.gtAt, l.gtAt + 2048]);
        const grainAt = img.readUInt32LE(l.grainEntryAt) * 512;
        regions.push([img, grainAt, grainAt + 64]);
      }
      regions.push([gdEnd, gdEnd.length - 1536, gdEnd.length]);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: regions.length - 1 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }),
          fc.array(fc.integer({ min: 0, max: DISK_BYTES }), { minLength: 1, maxLength: 6 }),
          async (r, flips, reads) => {
            const [img, from, to] = regions[r]!;
            const copy = Buffer.from(img);
            for (const [at, v] of flips) copy[from + (at % (to - from))] = v;
            await exercise(VmdkSource.open(new MemorySource(copy)), reads);
          },
        ),
        { numRuns: FUZZ_RUNS, interruptAfterTimeLimit: 90_000 },
      );
    });

    it('survives random descriptors (fuzz)', async () => {
      const flat = new MemorySource(Buffer.alloc(64 * 1024, 7));
      const line = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.tuple(fc.constantFrom('RW', 'RDONLY', 'NOACCESS', 'rw'), fc.nat({ max: 2 ** 40 }), fc.constantFrom('FLAT', 'ZERO', 'SPARSE', 'VMFS', 'flat'), fc.string({ maxLength: 12 }), fc.nat({ max: 300 })).map(
          ([a, n, t, name, off]) => `${a} ${n} ${t} "${name}" ${off}`,
        ),
        fc.constantFrom('parentCID=ffffffff', 'parentCID=1234', 'createType="monolithicFlat"', 'RW 100 FLAT "f.bin"', 'RW 100 SPARSE "f.bin"'),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(line, { maxLength: 12 }), fc.array(fc.nat({ max: 2 ** 42 }), { maxLength: 4 }), async (lines, reads) => {
          const text = ['# Disk DescriptorFile', ...lines].join('\n');
          await exercise(VmdkSource.open(new MemorySource(Buffer.from(text)), { openExtent: async () => flat }), reads);
        }),
        { numRuns: FUZZ_RUNS * 2, interruptAfterTimeLimit: 60_000 },
      );
    });
  });
});

/** Opens and reads; every failure must be a MountfsError. */
async function exercise(opening: Promise<VmdkSource>, reads: number[]): Promise<void> {
  let src: VmdkSource;
  try {
    src = await opening;
  } catch (err) {
    if (err instanceof MountfsError) return;
    throw err;
  }
  for (const at of reads) {
    await src.read(at, 300_000).catch((err: unknown) => {
      if (!(err instanceof MountfsError)) throw err;
    });
  }
  await src.close();
}

function md5OfBuffer(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}
