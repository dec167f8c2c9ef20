/**
 * VHD images made by qemu-img (fixed and dynamic, with and without force_size) from a
 * GPT disk holding ext4: every byte equals qemu-img's own raw conversion, random ranges
 * included, and the ext4 inside reads like its source tree. Differencing disks (written
 * by the helper from the specification) read their parent chain. Damaged images give
 * typed errors, and random damage to real images never escapes as another error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { open, truncate } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isVhd, VhdSource } from '../../mountfs/sources/vhd/vhd-source.js';
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
  patchVhdStructure,
  qemuConvert,
  vhdSum,
  writeDifferencingVhd,
  type RawDisk,
  type SectorWrite,
} from '../helpers/vhd-image.js';
import { expectError } from '../helpers/expect-error.js';
import { expectSameRanges, nearMultiples } from '../helpers/compare-ranges.js';
import { fileSources } from '../helpers/raw-disk.js';

const skipLostFound = (p: string) => p === '/lost+found' || p.startsWith('/lost+found/');

/** Random ranges, biased to small reads and block edges, equal the reference. */
async function compareRandomRanges(src: ByteSource, ref: ByteSource, runs = 120): Promise<void> {
  const length = fc.oneof(fc.integer({ min: 0, max: 8192 }), fc.integer({ min: 0, max: 5 << 20 }));
  await expectSameRanges(src, ref, nearMultiples(ref.size, 512 * 1024, 4096), length, runs);
}

async function compareTree(disk: ByteSource, tree: string): Promise<void> {
  const fs = await Ext4FileSystem.open(new SliceByteSource(disk, PARTITION_START, PARTITION_BYTES, 'partition 1'));
  const vfs = new RawVfs(fs);
  expect(sorted(await vfsTree(vfs, skipLostFound))).toEqual(sorted(await hostTree(tree)));
  await vfs.close();
}

describe('VHD reader', () => {
  let scratch: string;
  let disk: RawDisk;
  let rawMd5: string;
  const sources = fileSources();
  const openFile = sources.open;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-vhd-');
    disk = await buildRawDisk(scratch, 7);
    rawMd5 = await md5OfFile(disk.raw);
  });
  afterAll(async () => {
    await sources.closeAll();
    if (scratch) await removeScratchDir(scratch);
  });

  const variants: Array<[string, string[]]> = [
    ['fixed', ['subformat=fixed']],
    ['dynamic', ['subformat=dynamic']],
    ['fixed force_size', ['subformat=fixed', 'force_size=on']],
    ['dynamic force_size', ['subformat=dynamic', 'force_size=on']],
  ];

  it.each(variants)('reads a %s VHD from qemu-img byte for byte', async (name, options) => {
    const vhd = await qemuConvert(disk.raw, path.join(scratch, `${name.replace(/\W+/g, '_')}.vhd`), 'vpc', options);
    const back = await qemuConvert(vhd, `${vhd}.raw`, 'raw', [], 'vpc');
    const inner = await openFile(vhd);
    expect(await isVhd(inner)).toBe(true);
    const src = await VhdSource.open(inner);
    const ref = await openFile(back);
    expect(src.size).toBe(ref.size);
    expect(src.size).toBeGreaterThanOrEqual(DISK_BYTES);
    expect(await md5OfSource(src)).toBe(await md5OfFile(back));
    // qemu without force_size rounds the size up to a CHS geometry: the original disk is the start.
    expect(await md5OfSource(new SliceByteSource(src, 0, DISK_BYTES, 'first 64 MiB'))).toBe(rawMd5);
    await compareRandomRanges(src, ref);
    if (name === 'dynamic') await compareTree(src, disk.tree);
    expect(src.notes()).toEqual([]);
  });

  it('does not take a raw disk or a VHDX for a VHD', async () => {
    expect(await isVhd(await openFile(disk.raw))).toBe(false);
    const vhdx = await qemuConvert(disk.raw, path.join(scratch, 'not.vhdx'), 'vhdx');
    expect(await isVhd(await openFile(vhdx))).toBe(false);
  });

  describe('differencing disks', () => {
    let base: string;
    let baseRaw: string;
    const writesA: SectorWrite[] = [
      { offset: 0, data: randomBytes(512) },
      { offset: 512 * 1024 - 1024, data: randomBytes(7 * 512) }, // across a child block edge
      { offset: (5 << 20) + 4096, data: randomBytes(100 * 1024) },
      { offset: PARTITION_START + 1024, data: randomBytes(1024) }, // the ext4 superblock: the child must win
      { offset: (48 << 20) + 512 * 3, data: randomBytes(512) },
    ];
    const writesB: SectorWrite[] = [
      { offset: 512, data: randomBytes(512) },
      { offset: (5 << 20) + 8192, data: randomBytes(4096) },
    ];

    async function expected(name: string, layers: SectorWrite[][]): Promise<string> {
      const out = await copyFile(baseRaw, path.join(scratch, name));
      const fh = await open(out, 'r+');
      for (const layer of layers) for (const w of layer) await fh.write(w.data, 0, w.data.length, w.offset);
      await fh.close();
      return out;
    }
    const opener = (dir: string) => async (name: string) => openFile(path.join(dir, name));

    beforeAll(async () => {
      base = await qemuConvert(disk.raw, path.join(scratch, 'base.vhd'), 'vpc', ['subformat=dynamic']);
      baseRaw = await qemuConvert(base, path.join(scratch, 'base.raw'), 'raw', [], 'vpc');
      await writeDifferencingVhd(path.join(scratch, 'child.vhd'), { parent: base, writes: writesA });
      await writeDifferencingVhd(path.join(scratch, 'grandchild.vhd'), { parent: path.join(scratch, 'child.vhd'), writes: writesB });
    });

    it('refuses without --allow-backing, naming the parent', async () => {
      const inner = await openFile(path.join(scratch, 'child.vhd'));
      expect(await isVhd(inner)).toBe(true);
      await expectError(VhdSource.open(inner), 'unsupported', /parent base\.vhd is needed; rerun with --allow-backing/);
      await expectError(VhdSource.open(inner, { allowBacking: true }), 'unsupported', /base\.vhd/);
    });

    it('reads a child over its parent, sector by sector', async () => {
      const src = await VhdSource.open(await openFile(path.join(scratch, 'child.vhd')), { allowBacking: true, openParent: opener(scratch) });
      const want = await expected('child.expected', [writesA]);
      expect(await md5OfSource(src)).toBe(await md5OfFile(want));
      await compareRandomRanges(src, await openFile(want), 80);
      expect(src.notes()).toContain('differencing disk over parent base.vhd');
      await src.close();
    });

    it('reads a chain of two children', async () => {
      const src = await VhdSource.open(await openFile(path.join(scratch, 'grandchild.vhd')), { allowBacking: true, openParent: opener(scratch) });
      const want = await expected('grandchild.expected', [writesA, writesB]);
      expect(await md5OfSource(src)).toBe(await md5OfFile(want));
      await compareRandomRanges(src, await openFile(want), 60);
      await src.close();
    });

    it('refuses a parent with another unique id, a missing parent, a loop and a too deep chain', async () => {
      const wrong = path.join(scratch, 'wrong-id.vhd');
      await writeDifferencingVhd(wrong, { parent: base, writes: [], parentUniqueId: randomBytes(16) });
      await expectError(VhdSource.open(await openFile(wrong), { allowBacking: true, openParent: opener(scratch) }), 'corrupt', /is not the parent of/);

      const lost = path.join(scratch, 'lost.vhd');
      await writeDifferencingVhd(lost, { parent: base, parentName: 'gone.vhd', writes: [] });
      await expectError(VhdSource.open(await openFile(lost), { allowBacking: true, openParent: opener(scratch) }), 'io', /gone\.vhd/);

      const a = randomBytes(16);
      const b = randomBytes(16);
      await writeDifferencingVhd(path.join(scratch, 'loopA.vhd'), { parent: base, parentName: 'loopB.vhd', uniqueId: a, parentUniqueId: b, writes: [] });
      await writeDifferencingVhd(path.join(scratch, 'loopB.vhd'), { parent: base, parentName: 'loopA.vhd', uniqueId: b, parentUniqueId: a, writes: [] });
      await expectError(VhdSource.open(await openFile(path.join(scratch, 'loopA.vhd')), { allowBacking: true, openParent: opener(scratch) }), 'corrupt', /own ancestor/);

      let parent = base;
      for (let i = 0; i < 18; i++) {
        const next = path.join(scratch, `deep${i}.vhd`);
        await writeDifferencingVhd(next, { parent, writes: [] });
        parent = next;
      }
      await expectError(VhdSource.open(await openFile(parent), { allowBacking: true, openParent: opener(scratch) }), 'limit');
    });
  });

  describe('damaged images', () => {
    let dynamic: string;
    let fixed: string;
    beforeAll(async () => {
      dynamic = await qemuConvert(disk.raw, path.join(scratch, 'damage-dyn.vhd'), 'vpc', ['subformat=dynamic']);
      fixed = await qemuConvert(disk.raw, path.join(scratch, 'damage-fix.vhd'), 'vpc', ['subformat=fixed']);
    });
    const copy = (from: string, name: string) => copyFile(from, path.join(scratch, name));
    const sizeOf = async (f: string) => (await openFile(f)).size;

    it('rejects a footer with a bad checksum', async () => {
      const f = await copy(fixed, 'bad-sum.vhd');
      const at = (await sizeOf(f)) - 512;
      const fh = await open(f, 'r+');
      await fh.write(Buffer.from([0x42]), 0, 1, at + 100);
      await fh.close();
      await expectError(VhdSource.open(await openFile(f)), 'corrupt', /checksum/);
    });

    it('uses the footer copy of a truncated dynamic disk and fails on blocks past the end', async () => {
      const f = await copy(dynamic, 'truncated.vhd');
      await truncate(f, 3 << 20);
      const src = await VhdSource.open(await openFile(f));
      expect(src.notes().join()).toMatch(/copy at the start was used/);
      await expectError(src.read(48 << 20, 4096), 'corrupt', /past the end|ends inside/);
    });

    it('reads an old fixed disk whose footer is 511 bytes', async () => {
      const f = await copy(fixed, 'old-footer.vhd');
      await truncate(f, (await sizeOf(f)) - 1);
      const src = await VhdSource.open(await openFile(f));
      expect(await md5OfSource(new SliceByteSource(src, 0, DISK_BYTES, 'first 64 MiB'))).toBe(rawMd5);
    });

    it('rejects a truncated fixed disk and a tiny file', async () => {
      const f = await copy(fixed, 'truncated-fixed.vhd');
      await truncate(f, 5 << 20);
      await expectError(VhdSource.open(await openFile(f)), 'corrupt');
      const tiny = path.join(scratch, 'tiny.vhd');
      const fh = await open(tiny, 'w');
      await fh.write(Buffer.from('conectix'));
      await fh.close();
      await expectError(VhdSource.open(await openFile(tiny)), 'corrupt');
    });

    it('rejects lying header fields and table entries', async () => {
      const blockSize = await copy(dynamic, 'block-size.vhd');
      await patchVhdStructure(blockSize, 512, 1024, 36, (b) => b.writeUInt32BE(3000, 32));
      await expectError(VhdSource.open(await openFile(blockSize)), 'corrupt', /block size/);

      const entries = await copy(dynamic, 'entries.vhd');
      await patchVhdStructure(entries, 512, 1024, 36, (b) => b.writeUInt32BE(0xffffffff, 28));
      await expectError(VhdSource.open(await openFile(entries)), 'corrupt', /runs past the end/);

      const huge = await copy(dynamic, 'huge.vhd');
      await patchVhdStructure(huge, (await sizeOf(huge)) - 512, 512, 64, (b) => b.writeBigUInt64BE(1n << 50n, 48));
      await expectError(VhdSource.open(await openFile(huge)), 'corrupt', /cannot map/);

      const hugeFixed = await copy(fixed, 'huge-fixed.vhd');
      await patchVhdStructure(hugeFixed, (await sizeOf(hugeFixed)) - 512, 512, 64, (b) => b.writeBigUInt64BE(1n << 50n, 48));
      await expectError(VhdSource.open(await openFile(hugeFixed)), 'corrupt', /fixed disk/);

      const entry = await copy(dynamic, 'entry.vhd');
      const fh = await open(entry, 'r+');
      const e = Buffer.alloc(4);
      e.writeUInt32BE(0x7ffffff0);
      await fh.write(e, 0, 4, 1536); // block 0
      await fh.close();
      const src = await VhdSource.open(await openFile(entry));
      await expectError(src.read(0, 512), 'corrupt', /runs past the end/);
    });

    it('survives random damage to the footers, header and table (fuzz)', async () => {
      const inner = await openFile(dynamic);
      const head = await inner.read(0, 1536 + 4 * 64);
      const tailAt = inner.size - 512;
      const tail = await inner.read(tailAt, 512);
      const flip = fc.record({ where: fc.integer({ min: 0, max: head.length + 511 }), xor: fc.integer({ min: 1, max: 255 }) });
      let opened = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(flip, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.array(fc.nat(DISK_BYTES), { maxLength: 4 }), async (flips, fixSums, reads) => {
          const h = Buffer.from(head);
          const t = Buffer.from(tail);
          for (const { where, xor } of flips) {
            if (where < h.length) h[where]! ^= xor;
            else t[where - h.length]! ^= xor;
          }
          if (fixSums) {
            // Past the checksums, so the parsers' own checks are what is tested.
            h.writeUInt32BE(vhdSum(h.subarray(0, 512), 64), 64);
            h.writeUInt32BE(vhdSum(h.subarray(512, 1536), 36), 512 + 36);
            t.writeUInt32BE(vhdSum(t, 64), 64);
          }
          const src = new PatchedSource(inner, [
            { offset: 0, data: h },
            { offset: tailAt, data: t },
          ]);
          try {
            const vhd = await VhdSource.open(src, { allowBacking: true, openParent: async () => src });
            opened++;
            for (const at of reads) await vhd.read(at, 65536);
          } catch (err) {
            if (!(err instanceof MountfsError)) throw err;
            refused++;
          }
        }),
        { numRuns: 300 },
      );
      // Both outcomes occur, so the damage reached past the checksums.
      expect(opened).toBeGreaterThan(10);
      expect(refused).toBeGreaterThan(10);
    });
  });
});
