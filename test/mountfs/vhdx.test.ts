/**
 * VHDX images made by qemu-img (dynamic, fixed, 1 MiB blocks, a larger log, a sparse
 * 6 GiB disk whose block table interleaves a sector bitmap entry) read byte for byte
 * like qemu-img's raw conversion; the ext4 inside reads like its tree. Damaged headers,
 * region tables, metadata and block tables give typed errors or notes, and random
 * damage never escapes as another error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { truncate } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isVhdx, VhdxSource } from '../../mountfs/sources/vhdx/vhdx-source.js';
import { crc32c } from '../../mountfs/crc32c.js';
import { MountfsError } from '../../mountfs/errors.js';
import { SliceByteSource } from '../../mountfs/sources/slice-source.js';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import { Ext4FileSystem } from '../../mountfs/fs/ext4/ext4-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import {
  buildRawDisk,
  copyFile,
  DISK_BYTES,
  md5OfFile,
  md5OfSource,
  PARTITION_BYTES,
  PARTITION_START,
  PatchedSource,
  peekFile,
  pokeFile,
  qemuConvert,
  vhdxLayout,
  type RawDisk,
} from '../helpers/vhd-image.js';
import { expectError } from '../helpers/expect-error.js';
import { expectSameRanges, nearMultiples } from '../helpers/compare-ranges.js';
import { fileSources } from '../helpers/raw-disk.js';

const run = promisify(execFile);
const skipLostFound = (p: string) => p === '/lost+found' || p.startsWith('/lost+found/');
const KiB = 1024;
const MiB = 1024 * 1024;

async function compareRandomRanges(src: ByteSource, ref: ByteSource, offset: fc.Arbitrary<number>, runs = 120): Promise<void> {
  await expectSameRanges(src, ref, offset, fc.oneof(fc.integer({ min: 0, max: 8192 }), fc.integer({ min: 0, max: 5 * MiB })), runs);
}

/** Offsets anywhere, and near block edges. */
function offsets(size: number, blockSize: number): fc.Arbitrary<number> {
  return nearMultiples(size, blockSize, 4096);
}

/** Rewrites a CRC-32C protected structure (header: 4 KiB, region table: 64 KiB) after `edit`. */
async function patchCrcStructure(file: string, at: number, length: number, edit: (b: Buffer) => void): Promise<void> {
  const buf = await peekFile(file, at, length);
  edit(buf);
  buf.writeUInt32LE(0, 4);
  buf.writeUInt32LE(crc32c(buf), 4);
  await pokeFile(file, at, buf);
}

describe('VHDX reader', () => {
  let scratch: string;
  let disk: RawDisk;
  let rawMd5: string;
  const sources = fileSources();
  const openFile = sources.open;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-vhdx-');
    disk = await buildRawDisk(scratch, 9);
    rawMd5 = await md5OfFile(disk.raw);
  });
  afterAll(async () => {
    await sources.closeAll();
    if (scratch) await removeScratchDir(scratch);
  });

  const variants: Array<[string, string[]]> = [
    ['dynamic', []],
    ['fixed', ['subformat=fixed']],
    ['1 MiB blocks', ['block_size=1M']],
    ['2 MiB log', ['log_size=2M', 'block_size=8M']],
  ];

  it.each(variants)('reads a %s VHDX from qemu-img byte for byte', async (name, options) => {
    const vhdx = await qemuConvert(disk.raw, path.join(scratch, `${name.replace(/\W+/g, '_')}.vhdx`), 'vhdx', options);
    const back = await qemuConvert(vhdx, `${vhdx}.raw`, 'raw', [], 'vhdx');
    const inner = await openFile(vhdx);
    expect(isVhdx(await inner.read(0, 4096))).toBe(true);
    const src = await VhdxSource.open(inner);
    const ref = await openFile(back);
    expect(src.size).toBe(DISK_BYTES);
    expect(ref.size).toBe(DISK_BYTES);
    expect(await md5OfSource(src)).toBe(rawMd5);
    await compareRandomRanges(src, ref, offsets(src.size, src.metadata.blockSize));
    expect(src.notes()).toEqual([]);
    if (name === 'dynamic') {
      const fs = await Ext4FileSystem.open(new SliceByteSource(src, PARTITION_START, PARTITION_BYTES, 'partition 1'));
      const vfs = new RawVfs(fs);
      expect(sorted(await vfsTree(vfs, skipLostFound))).toEqual(sorted(await hostTree(disk.tree)));
      await vfs.close();
    }
  });

  it('maps blocks past the first 4 GiB chunk, where the table interleaves a sector bitmap entry', async () => {
    const big = path.join(scratch, 'big.raw');
    await run('truncate', ['-s', '6G', big]);
    await run('dd', [`if=${disk.raw}`, `of=${big}`, 'bs=1M', 'count=64', 'conv=notrunc,sparse', 'status=none']);
    for (const at of [4 * 1024 * MiB - 3 * MiB, 4 * 1024 * MiB + 5 * MiB, 6 * 1024 * MiB - MiB]) {
      await run('dd', [`if=${disk.raw}`, `of=${big}`, 'bs=1M', `skip=${48}`, `seek=${at / MiB}`, 'count=1', 'conv=notrunc', 'status=none']);
      await run('dd', ['if=/dev/urandom', `of=${big}`, 'bs=4k', `seek=${at / 4096 + 256}`, 'count=64', 'conv=notrunc', 'status=none']);
    }
    const vhdx = await qemuConvert(big, path.join(scratch, 'big.vhdx'), 'vhdx', ['block_size=1M']);
    const src = await VhdxSource.open(await openFile(vhdx));
    const ref = await openFile(big);
    expect(src.size).toBe(ref.size);
    // Whole blocks around each written place, then random ranges over the whole disk.
    for (const at of [4 * 1024 * MiB - 4 * MiB, 4 * 1024 * MiB + 4 * MiB, 6 * 1024 * MiB - 2 * MiB]) {
      expect((await src.read(at, 3 * MiB)).equals(await ref.read(at, 3 * MiB))).toBe(true);
    }
    const near = fc.constantFrom(0, 4 * 1024 * MiB - 3 * MiB, 4 * 1024 * MiB + 5 * MiB, 6 * 1024 * MiB - MiB).chain((c) => fc.integer({ min: Math.max(0, c - 2 * MiB), max: c + MiB }));
    await compareRandomRanges(src, ref, fc.oneof(near, offsets(src.size, MiB)), 100);
  });

  describe('damaged images', () => {
    let dynamic: string;
    const copy = (name: string) => copyFile(dynamic, path.join(scratch, name));
    beforeAll(async () => {
      dynamic = await qemuConvert(disk.raw, path.join(scratch, 'damage.vhdx'), 'vhdx', ['block_size=1M']);
    });

    it('uses the other header when one is damaged, and fails when both are', async () => {
      const one = await copy('one-header.vhdx');
      await pokeFile(one, 64 * KiB + 200, Buffer.from([0x99]));
      const src = await VhdxSource.open(await openFile(one));
      expect(src.notes().join()).toMatch(/one VHDX header is damaged/);
      expect(await md5OfSource(src)).toBe(rawMd5);

      const both = await copy('two-headers.vhdx');
      await pokeFile(both, 64 * KiB + 200, Buffer.from([0x99]));
      await pokeFile(both, 128 * KiB + 200, Buffer.from([0x99]));
      await expectError(VhdxSource.open(await openFile(both)), 'corrupt', /CRC-32C/);
    });

    it('notes a log that was not replayed', async () => {
      const f = await copy('dirty-log.vhdx');
      for (const at of [64 * KiB, 128 * KiB]) {
        await patchCrcStructure(f, at, 4 * KiB, (b) => Buffer.from('0123456789abcdef').copy(b, 48));
      }
      const src = await VhdxSource.open(await openFile(f));
      expect(src.notes()).toContain('VHDX log is not empty (the image was not closed cleanly); the log was not replayed');
    });

    it('uses the region table copy, refuses unknown required regions, and fails when both tables are damaged', async () => {
      const one = await copy('one-region.vhdx');
      await pokeFile(one, 192 * KiB + 20, Buffer.from([0x55]));
      const src = await VhdxSource.open(await openFile(one));
      expect(src.notes().join()).toMatch(/region table is damaged/);
      expect(await md5OfSource(src)).toBe(rawMd5);

      const both = await copy('two-regions.vhdx');
      await pokeFile(both, 192 * KiB + 20, Buffer.from([0x55]));
      await pokeFile(both, 256 * KiB + 20, Buffer.from([0x55]));
      await expectError(VhdxSource.open(await openFile(both)), 'corrupt');

      const required = await copy('required-region.vhdx');
      for (const at of [192 * KiB, 256 * KiB]) {
        await patchCrcStructure(required, at, 64 * KiB, (b) => {
          const n = b.readUInt32LE(8);
          const e = 16 + n * 32;
          Buffer.alloc(16, 0x77).copy(b, e);
          b.writeBigUInt64LE(BigInt(MiB), e + 16);
          b.writeUInt32LE(MiB, e + 24);
          b.writeUInt32LE(1, e + 28);
          b.writeUInt32LE(n + 1, 8);
        });
      }
      await expectError(VhdxSource.open(await openFile(required)), 'unsupported', /required region/);

      const past = await copy('region-past-end.vhdx');
      for (const at of [192 * KiB, 256 * KiB]) await patchCrcStructure(past, at, 64 * KiB, (b) => b.writeBigUInt64LE(1n << 40n, 32));
      await expectError(VhdxSource.open(await openFile(past)), 'corrupt', /past the end/);
    });

    it('refuses a differencing disk and lying metadata', async () => {
      const layout = await vhdxLayout(dynamic);
      const parent = await copy('has-parent.vhdx');
      const params = await peekFile(parent, layout.fileParameters, 8);
      params.writeUInt32LE(params.readUInt32LE(4) | 2, 4);
      await pokeFile(parent, layout.fileParameters, params);
      await expectError(VhdxSource.open(await openFile(parent)), 'unsupported', /differencing/);

      const huge = await copy('huge.vhdx');
      const size = Buffer.alloc(8);
      size.writeBigUInt64LE(60n << 40n);
      await pokeFile(huge, layout.virtualDiskSize, size);
      await expectError(VhdxSource.open(await openFile(huge)), 'corrupt', /do not fit/);

      const blockSize = await copy('block-size.vhdx');
      await pokeFile(blockSize, layout.fileParameters, Buffer.from([0, 0, 0x30, 0]));
      await expectError(VhdxSource.open(await openFile(blockSize)), 'corrupt', /block size/);

      const signature = await copy('metadata-signature.vhdx');
      await pokeFile(signature, layout.metadataOffset, Buffer.from('METADATA'));
      await expectError(VhdxSource.open(await openFile(signature)), 'corrupt', /signature/);
    });

    it('rejects table entries past the end, partially present and reserved states', async () => {
      const layout = await vhdxLayout(dynamic);
      const entry = (state: number, offsetMb: number) => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE((BigInt(offsetMb) << 20n) | BigInt(state));
        return b;
      };
      const cases: Array<[string, Buffer, string, RegExp]> = [
        ['past-end', entry(6, 1 << 30), 'corrupt', /outside/],
        ['in-headers', entry(6, 0), 'corrupt', /outside/],
        ['partial', entry(7, 4), 'unsupported', /partially present/],
        ['reserved', entry(4, 4), 'corrupt', /reserved state/],
      ];
      for (const [name, bytes, kind, text] of cases) {
        const f = await copy(`bat-${name}.vhdx`);
        await pokeFile(f, layout.batOffset, bytes);
        const src = await VhdxSource.open(await openFile(f));
        await expectError(src.read(100, 10), kind, text);
        expect((await src.read(2 * MiB, 10)).length).toBe(10);
      }
      const zero = await copy('bat-zero.vhdx');
      await pokeFile(zero, layout.batOffset, entry(2, 4));
      expect((await (await VhdxSource.open(await openFile(zero))).read(0, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    });

    it('rejects truncated files', async () => {
      for (const size of [4 * KiB, 200 * KiB, 1536 * KiB, 3 * MiB]) {
        const f = await copy(`truncated-${size}.vhdx`);
        await truncate(f, size);
        await expectError(
          (async () => {
            const src = await VhdxSource.open(await openFile(f));
            await md5OfSource(src);
          })(),
          'corrupt',
        );
      }
    });

    it('survives random damage to headers, region tables, metadata and table (fuzz)', async () => {
      const inner = await openFile(dynamic);
      const layout = await vhdxLayout(dynamic);
      // Each area is patched whole; flips aim at its fields: the headers' first 96 bytes, the region
      // entries, the metadata entries and items (at 64 KiB into the region), the first table entries.
      const areas = [
        { at: 64 * KiB, len: 4 * KiB, crc: true, hot: [[0, 96]] },
        { at: 128 * KiB, len: 4 * KiB, crc: true, hot: [[0, 96]] },
        { at: 192 * KiB, len: 64 * KiB, crc: true, hot: [[0, 112]] },
        { at: 256 * KiB, len: 64 * KiB, crc: true, hot: [[0, 112]] },
        { at: layout.metadataOffset, len: 64 * KiB + 64, crc: false, hot: [[0, 224], [64 * KiB, 64]] },
        { at: layout.batOffset, len: 8 * 80, crc: false, hot: [[0, 8 * 80]] },
      ];
      const originals = await Promise.all(areas.map((a) => inner.read(a.at, a.len)));
      const flip = fc.record({
        area: fc.integer({ min: 0, max: areas.length - 1 }),
        range: fc.nat(1),
        pos: fc.nat(),
        xor: fc.integer({ min: 1, max: 255 }),
      });
      let openedOk = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(flip, { minLength: 1, maxLength: 5 }), fc.boolean(), fc.array(fc.nat(DISK_BYTES), { maxLength: 4 }), async (flips, fixCrc, reads) => {
          const bufs = originals.map((b) => Buffer.from(b));
          for (const { area, range, pos, xor } of flips) {
            const hot = areas[area]!.hot;
            const [start, len] = hot[range % hot.length]!;
            bufs[area]![start! + (pos % len!)]! ^= xor;
          }
          if (fixCrc) {
            areas.forEach((a, i) => {
              if (!a.crc) return;
              const b = bufs[i]!;
              b.writeUInt32LE(0, 4);
              b.writeUInt32LE(crc32c(b), 4);
            });
          }
          const src = new PatchedSource(inner, areas.map((a, i) => ({ offset: a.at, data: bufs[i]! })));
          try {
            const vhdx = await VhdxSource.open(src);
            openedOk++;
            for (const at of reads) await vhdx.read(at, 65536);
          } catch (err) {
            if (!(err instanceof MountfsError)) throw err;
            refused++;
          }
        }),
        { numRuns: 300 },
      );
      expect(openedOk).toBeGreaterThan(10);
      expect(refused).toBeGreaterThan(10);
    });
  });

  it('does not take a VHD or a raw disk for a VHDX', async () => {
    const vhd = await qemuConvert(disk.raw, path.join(scratch, 'x.vhd'), 'vpc', ['subformat=dynamic']);
    expect(isVhdx(await (await openFile(vhd)).read(0, 4096))).toBe(false);
    expect(isVhdx(await (await openFile(disk.raw)).read(0, 4096))).toBe(false);
    await expectError(VhdxSource.open(await openFile(vhd)), 'corrupt', /vhdxfile/);
  });
});
