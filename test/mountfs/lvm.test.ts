/**
 * LVM2 volume groups made by the real lvm2 tools on loop devices (pvcreate, vgcreate,
 * vgcfgrestore of hand-written metadata; nothing can be activated without
 * device-mapper), with ext4 filesystems written into the extents the metadata names:
 * linear, striped and two-segment LVs read back byte for byte and their ext4 like its
 * tree; thin, snapshot and raid volumes are listed with reasons; a VG on two GPT
 * partitions; metadata that wrapped around its ring buffer. Then the text parser, and
 * damaged labels, areas and metadata built byte by byte: typed errors or warnings,
 * never a hang or another exception.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { detectLvm, hasLvmLabel, LvmVolumeSource, type LvmLayout, type LvmLogicalVolume } from '../../mountfs/volumes/lvm/lvm.js';
import { parseMetadataText, type ConfigSection } from '../../mountfs/volumes/lvm/metadata-text.js';
import { detectVolumes } from '../../mountfs/volumes/detect.js';
import { MountfsError } from '../../mountfs/errors.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import { Ext4FileSystem } from '../../mountfs/fs/ext4/ext4-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { writeRandomTree } from '../helpers/random-tree.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { BufferSource, PatchedSource } from '../helpers/vhd-image.js';
import {
  buildPvImage,
  dashed,
  fixPvCrcs,
  LoopDevices,
  lvm,
  lvmCrc,
  pvFacts,
  randomLvmUuid,
  report,
  restoreVg,
  vgText,
  writeLvContents,
  type LvSpec,
  type VgSpec,
} from '../helpers/lvm-image.js';
import { expectError } from '../helpers/expect-error.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const skipLostFound = (p: string) => p === '/lost+found' || p.startsWith('/lost+found/');

function lvNamed(layout: LvmLayout, name: string): LvmLogicalVolume {
  const lv = layout.logicalVolumes.find((l) => l.name === name);
  if (!lv) throw new Error(`no LV ${name} in ${layout.logicalVolumes.map((l) => l.name).join(', ')}`);
  return lv;
}

async function expectSameBytes(src: ByteSource, expected: Buffer): Promise<void> {
  expect(src.size).toBe(expected.length);
  const got = await src.read(0, src.size);
  expect(got.equals(expected)).toBe(true);
  await fc.assert(
    fc.asyncProperty(fc.nat(expected.length), fc.oneof(fc.nat(4096), fc.nat(3 * MiB)), async (at, len) => {
      const want = expected.subarray(at, Math.min(expected.length, at + len));
      expect((await src.read(at, len)).equals(want)).toBe(true);
    }),
    { numRuns: 100 },
  );
}

async function expectTree(src: ByteSource, tree: string): Promise<void> {
  const vfs = new RawVfs(await Ext4FileSystem.open(src));
  expect(sorted(await vfsTree(vfs, skipLostFound))).toEqual(sorted(await hostTree(tree)));
  await vfs.close();
}

describe('LVM2 reader', () => {
  let scratch: string;
  const loops = new LoopDevices();
  const trees: string[] = [];
  const opened: ByteSource[] = [];
  const openFile = async (f: string) => {
    const s = await FileByteSource.open(f);
    opened.push(s);
    return s;
  };
  /** VG names are unique per run: the lvm2 tools see every loop device of the machine. */
  const tag = `ms${process.pid}`;

  async function mkfs(tree: string, name: string, mib: number): Promise<Buffer> {
    const file = path.join(scratch, name);
    await run('mkfs.ext4', ['-q', '-F', '-d', tree, file, `${mib}M`]);
    return readFile(file);
  }

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-lvm-');
    for (const seed of [21, 22, 23]) {
      const t = path.join(scratch, `tree${seed}`);
      await writeRandomTree(t, seed, { files: 12, bigDirEntries: 60, maxFileBytes: 60_000 });
      trees.push(t);
    }
  });
  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    await loops.detachAll();
    if (scratch) await removeScratchDir(scratch);
  });

  describe('a VG on two PVs made by lvm2', () => {
    const vgName = `${tag}two`;
    let files: string[];
    let images: Map<string, Buffer>;
    let extentBytes: number;
    let seqno: number;

    beforeAll(async () => {
      files = [path.join(scratch, 'pvA.img'), path.join(scratch, 'pvB.img')];
      for (const f of files) await run('truncate', ['-s', '48M', f]);
      const devs = [await loops.attach(files[0]!), await loops.attach(files[1]!)];
      await lvm('pvcreate', ['-y', '-ff', ...devs], devs);
      await lvm('vgcreate', ['-s', '1m', vgName, ...devs], devs);
      const facts = [await pvFacts(devs[0]!, devs), await pvFacts(devs[1]!, devs)];
      const extentSize = Number(await report('vgs', 'vg_extent_size', vgName, devs));
      extentBytes = extentSize * 512;
      const lin = (name: string, pv: string, pe: number, count: number, visible = false): LvSpec => ({
        name,
        visible,
        segments: [{ startExtent: 0, extentCount: count, stripes: [[pv, pe]] }],
      });
      const lvs: LvSpec[] = [
        lin('lin', 'pv0', 2, 12, true),
        { name: 'str', segments: [{ startExtent: 0, extentCount: 16, stripes: [['pv0', 20], ['pv1', 0]], stripeSize: 128 }] },
        {
          name: 'two',
          segments: [
            { startExtent: 0, extentCount: 6, stripes: [['pv1', 10]] },
            { startExtent: 6, extentCount: 8, stripes: [['pv0', 30]] },
          ],
        },
        lin('pool_tmeta', 'pv1', 20, 1),
        lin('pool_tdata', 'pv1', 21, 4),
        {
          name: 'pool',
          segments: [{ startExtent: 0, extentCount: 4, type: 'thin-pool', extra: ['metadata = "pool_tmeta"', 'pool = "pool_tdata"', 'transaction_id = 1', 'chunk_size = 128', 'discards = "passdown"', 'zero_new_blocks = 1'] }],
        },
        { name: 'thin1', segments: [{ startExtent: 0, extentCount: 8, type: 'thin', extra: ['thin_pool = "pool"', 'transaction_id = 0', 'device_id = 1'] }] },
        lin('snap', 'pv1', 25, 2, true),
        { name: 'snapshot0', visible: false, segments: [{ startExtent: 0, extentCount: 12, type: 'snapshot', extra: ['chunk_size = 8', 'origin = "lin"', 'cow_store = "snap"'] }] },
        {
          name: 'mirrored',
          segments: [{ startExtent: 0, extentCount: 2, type: 'raid1', extra: ['device_count = 2', 'region_size = 1024', 'raids = ["mirrored_rmeta_0", "mirrored_rimage_0", "mirrored_rmeta_1", "mirrored_rimage_1"]'] }],
        },
        lin('mirrored_rmeta_0', 'pv0', 40, 1),
        lin('mirrored_rimage_0', 'pv0', 41, 2),
        lin('mirrored_rmeta_1', 'pv1', 40, 1),
        lin('mirrored_rimage_1', 'pv1', 41, 2),
      ];
      const vg: VgSpec = {
        name: vgName,
        id: (await report('vgs', 'vg_uuid', vgName, devs)).trim(),
        seqno: 5,
        extentSize,
        pvs: facts.map((f, i) => ({ key: `pv${i}`, uuid: f.uuid, devSize: f.devSize, peStart: f.peStart, peCount: f.peCount })),
        lvs,
      };
      await restoreVg(scratch, vg, devs);
      // lvm2 itself reads the restored metadata back.
      const listed = await lvm('lvs', ['-a', '--noheadings', '-o', 'lv_name', vgName], devs);
      for (const name of ['lin', 'str', 'two', 'pool', 'thin1', 'snap', 'mirrored']) expect(listed).toMatch(new RegExp(`\\b${name}\\b`));
      seqno = Number(await report('vgs', 'vg_seqno', vgName, devs));
      for (const d of devs) await loops.detach(d);

      images = new Map([
        ['lin', await mkfs(trees[0]!, 'lin.ext4', 12)],
        ['str', await mkfs(trees[1]!, 'str.ext4', 16)],
        ['two', await mkfs(trees[2]!, 'two.ext4', 14)],
      ]);
      const pvMap = new Map(facts.map((f, i) => [`pv${i}`, { file: files[i]!, extentZero: f.peStart * 512 }]));
      for (const lv of lvs) if (images.has(lv.name)) await writeLvContents(images.get(lv.name)!, lv, extentBytes, pvMap);
    });

    it('maps linear, striped and two-segment LVs byte for byte, and their ext4 reads like its tree', async () => {
      const pvs = [await openFile(files[0]!), await openFile(files[1]!)];
      expect(await hasLvmLabel(pvs[0]!)).toBe(true);
      const layout = await detectLvm(pvs);
      expect(layout.warnings).toEqual([]);
      expect(layout.volumeGroups).toHaveLength(1);
      expect(layout.volumeGroups[0]).toMatchObject({ name: vgName, seqno, extentSize: extentBytes });
      expect(layout.volumeGroups[0]!.pvs.every((p) => p.found)).toBe(true);
      expect(layout.physicalVolumes.map((p) => p.vg)).toEqual([vgName, vgName]);
      for (const [name, tree] of [['lin', trees[0]!], ['str', trees[1]!], ['two', trees[2]!]] as const) {
        const lv = lvNamed(layout, name);
        expect(lv.notScannedReason).toBeUndefined();
        expect(lv.source).toBeInstanceOf(LvmVolumeSource);
        expect(lv.vg).toBe(vgName);
        await expectSameBytes(lv.source!, images.get(name)!);
        await expectTree(lv.source!, tree);
      }
      expect(lvNamed(layout, 'str').segments[0]).toMatchObject({ type: 'striped', stripeSize: 128, stripes: [{ pv: 'pv0', startExtent: 20 }, { pv: 'pv1', startExtent: 0 }] });
      expect(lvNamed(layout, 'two').segments.map((s) => s.extentCount)).toEqual([6, 8]);
    });

    it('lists thin, snapshot and raid volumes and hidden sub-volumes with the reason they are not read', async () => {
      const layout = await detectLvm([await openFile(files[1]!), await openFile(files[0]!)]);
      const reason = (name: string) => {
        const lv = lvNamed(layout, name);
        expect(lv.source).toBeUndefined();
        return lv.notScannedReason;
      };
      expect(reason('thin1')).toBe('thin volume: not read yet');
      expect(lvNamed(layout, 'thin1').size).toBe(8 * extentBytes);
      expect(reason('pool')).toMatch(/^thin pool/);
      expect(reason('pool_tdata')).toBe('hidden sub-volume of pool');
      expect(lvNamed(layout, 'pool_tdata').hidden).toBe(true);
      expect(reason('snap')).toBe('snapshot of lin: its copy-on-write store is not read yet');
      expect(reason('snapshot0')).toBe('snapshot: not read yet');
      expect(reason('mirrored')).toBe('raid1 volume: not read yet');
      expect(reason('mirrored_rimage_1')).toBe('hidden sub-volume of mirrored');
      // The snapshot's origin is an ordinary LV.
      expect(lvNamed(layout, 'lin').source).toBeDefined();
    });

    it('reads what it can when a PV is missing', async () => {
      const layout = await detectLvm([await openFile(files[0]!)]);
      expect(layout.volumeGroups[0]!.pvs.map((p) => p.found)).toEqual([true, false]);
      await expectSameBytes(lvNamed(layout, 'lin').source!, images.get('lin')!);
      expect(lvNamed(layout, 'str').notScannedReason).toMatch(/^PV pv1 \(.+\) is missing$/);
      expect(lvNamed(layout, 'two').notScannedReason).toMatch(/PV pv1 .* is missing/);
    });

    it('takes nothing from sources that are not PVs', async () => {
      const zeros = new BufferSource(Buffer.alloc(MiB), 'zeros');
      expect(await hasLvmLabel(zeros)).toBe(false);
      expect(await detectLvm([zeros])).toEqual({ physicalVolumes: [], volumeGroups: [], logicalVolumes: [], warnings: [], notes: [] });
    });
  });

  it('reads a VG on two GPT partitions', async () => {
    const disk = path.join(scratch, 'gpt-lvm.img');
    await run('truncate', ['-s', '80M', disk]);
    await run('sgdisk', ['-n', '1:2048:+36M', '-t', '1:8e00', '-n', '2:0:+36M', '-t', '2:8e00', disk]);
    const parts: Array<{ start: number; size: number }> = [];
    for (const n of [1, 2]) {
      const info = (await run('sgdisk', ['-i', String(n), disk])).stdout;
      const first = Number(/First sector: (\d+)/.exec(info)![1]);
      const last = Number(/Last sector: (\d+)/.exec(info)![1]);
      parts.push({ start: first * 512, size: (last - first + 1) * 512 });
    }
    const devs: string[] = [];
    for (const p of parts) devs.push(await loops.attach(disk, { offset: p.start, size: p.size }));
    const vgName = `${tag}gpt`;
    await lvm('pvcreate', ['-y', '-ff', ...devs], devs);
    await lvm('vgcreate', [vgName, ...devs], devs);
    const facts = [await pvFacts(devs[0]!, devs), await pvFacts(devs[1]!, devs)];
    const extentSize = Number(await report('vgs', 'vg_extent_size', vgName, devs));
    const root: LvSpec = {
      name: 'root',
      segments: [
        { startExtent: 0, extentCount: 6, stripes: [['pv0', 1]] },
        { startExtent: 6, extentCount: 5, stripes: [['pv1', 0]] },
      ],
    };
    await restoreVg(scratch, {
      name: vgName,
      id: await report('vgs', 'vg_uuid', vgName, devs),
      seqno: 3,
      extentSize,
      pvs: facts.map((f, i) => ({ key: `pv${i}`, uuid: f.uuid, devSize: f.devSize, peStart: f.peStart, peCount: f.peCount })),
      lvs: [root],
    }, devs);
    for (const d of devs) await loops.detach(d);
    const fs = await mkfs(trees[0]!, 'root.ext4', (11 * extentSize * 512) / MiB);
    await writeLvContents(fs, root, extentSize * 512, new Map(facts.map((f, i) => [`pv${i}`, { file: disk, extentZero: parts[i]!.start + f.peStart * 512 }])));

    const volumes = await detectVolumes(await openFile(disk));
    expect(volumes.volumes.map((v) => v.start)).toEqual(parts.map((p) => p.start));
    const layout = await detectLvm(volumes.volumes.map((v) => v.source));
    expect(layout.warnings).toEqual([]);
    const lv = lvNamed(layout, 'root');
    expect(lv.size).toBe(fs.length);
    await expectSameBytes(lv.source!, fs);
    await expectTree(lv.source!, trees[0]!);
  });

  it('reads metadata that wrapped around the end of its ring buffer, from either copy', async () => {
    const file = path.join(scratch, 'wrap.img');
    await run('truncate', ['-s', '16M', file]);
    const dev = await loops.attach(file);
    const vgName = `${tag}wrap`;
    await lvm('pvcreate', ['-y', '-ff', '--metadatasize', '32k', '--dataalignment', '4k', '--pvmetadatacopies', '2', dev], [dev]);
    await lvm('vgcreate', ['-s', '1m', vgName, dev], [dev]);
    const wrapped = async () => {
      const fh = await open(dev, 'r');
      const h = Buffer.alloc(512);
      await fh.read(h, 0, 512, 4096);
      await fh.close();
      return Number(h.readBigUInt64LE(40)) + Number(h.readBigUInt64LE(48)) > Number(h.readBigUInt64LE(32));
    };
    let i = 0;
    while (!(await wrapped())) {
      if (++i > 80) throw new Error('the metadata never wrapped');
      await lvm('vgchange', ['--addtag', `t${i}-${'x'.repeat(60)}`, vgName], [dev]);
    }
    const seqno = Number(await report('vgs', 'vg_seqno', vgName, [dev]));
    await loops.detach(dev);

    const layout = await detectLvm([await openFile(file)]);
    expect(layout.warnings).toEqual([]);
    expect(layout.volumeGroups.map((v) => [v.name, v.seqno])).toEqual([[vgName, seqno]]);

    // With the first area damaged, the second one (at the end of the PV) still gives the VG.
    const damaged = Buffer.from(await readFile(file));
    damaged[4096 + 5]! ^= 0xff;
    const again = await detectLvm([new BufferSource(damaged, 'damaged copy')]);
    expect(again.volumeGroups.map((v) => v.seqno)).toEqual([seqno]);
    expect(again.warnings.map((w) => w.message).join()).toMatch(/metadata area at 4096: .*magic/);
  });

  describe('PVs written byte by byte', () => {
    const uuidA = randomLvmUuid().replace(/-/g, '');
    const uuidB = randomLvmUuid().replace(/-/g, '');
    const spec = (lvs: LvSpec[], seqno = 2): VgSpec => ({
      name: `${tag}byte`,
      id: randomLvmUuid(),
      seqno,
      extentSize: 2048,
      pvs: [
        { key: 'pv0', uuid: uuidA, devSize: 16 * 2048, peStart: 2048, peCount: 15 },
        { key: 'pv1', uuid: uuidB, devSize: 16 * 2048, peStart: 2048, peCount: 15 },
      ],
      lvs,
    });
    const linear: LvSpec = { name: 'data', segments: [{ startExtent: 0, extentCount: 3, stripes: [['pv0', 4]] }] };
    const pvImage = (uuid: string, text: string, extra: Partial<Parameters<typeof buildPvImage>[0]> = {}) =>
      buildPvImage({ uuid, size: 16 * MiB, peStart: MiB, mdaSize: MiB - 4096, text, ...extra });
    const marked = (img: Buffer) => {
      // Recognisable bytes in every extent of pv0 so a mapping can be checked.
      for (let e = 0; e < 15; e++) img.fill(e + 1, MiB + e * MiB, MiB + e * MiB + MiB);
      return img;
    };

    it('writes PVs that lvm2 itself reads, with the text wrapped around the ring', async () => {
      const text = vgText(spec([linear]));
      const a = marked(pvImage(uuidA, text, { textOffset: MiB - 4096 - 700 }));
      const b = pvImage(uuidB, text);
      const files = [path.join(scratch, 'byteA.img'), path.join(scratch, 'byteB.img')];
      await writeFile(files[0]!, a);
      await writeFile(files[1]!, b);
      const devs = [await loops.attach(files[0]!), await loops.attach(files[1]!)];
      try {
        const ranges = await lvm('lvs', ['--noheadings', '-o', 'lv_name,seg_pe_ranges', `${tag}byte`], devs);
        expect(ranges).toMatch(/data\s+\/dev\/loop\d+:4-6/);
      } finally {
        for (const d of devs) await loops.detach(d);
      }
      const layout = await detectLvm([new BufferSource(a, 'A'), new BufferSource(b, 'B')]);
      expect(layout.warnings).toEqual([]);
      const data = lvNamed(layout, 'data').source!;
      expect(data.size).toBe(3 * MiB);
      const got = await data.read(0, 3 * MiB);
      for (let e = 0; e < 3; e++) expect(got.subarray(e * MiB, (e + 1) * MiB).every((x) => x === 5 + e)).toBe(true);
    });

    it('reads zero segments, refuses error segments and unknown types', async () => {
      const text = vgText(
        spec([
          { name: 'z', segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 0]] }, { startExtent: 1, extentCount: 2, type: 'zero' }] },
          { name: 'e', segments: [{ startExtent: 0, extentCount: 1, type: 'error' }] },
          { name: 'u', segments: [{ startExtent: 0, extentCount: 1, type: 'shiny-new' }] },
          { name: 'c', segments: [{ startExtent: 0, extentCount: 1, type: 'cache', extra: ['cache_pool = "cp"', 'origin = "c_corig"'] }] },
        ]),
      );
      const layout = await detectLvm([new BufferSource(marked(pvImage(uuidA, text)), 'A'), new BufferSource(pvImage(uuidB, text), 'B')]);
      const z = lvNamed(layout, 'z').source!;
      const got = await z.read(MiB - 10, 20);
      expect([...got]).toEqual([...Buffer.alloc(10, 1), ...Buffer.alloc(10, 0)]);
      expect(lvNamed(layout, 'e').notScannedReason).toBe('error segment: the volume has no data');
      expect(lvNamed(layout, 'u').notScannedReason).toBe('segment type "shiny-new": not read yet');
      expect(lvNamed(layout, 'c').notScannedReason).toBe('cache volume: not read yet');
    });

    it('uses the newest metadata across PVs and warns about the older copy', async () => {
      const older = vgText(spec([linear], 2));
      const newerSpec = spec([{ ...linear, segments: [{ startExtent: 0, extentCount: 3, stripes: [['pv0', 7]] }] }], 3);
      newerSpec.id = /id = "([^"]+)"/.exec(older)![1]!;
      const layout = await detectLvm([
        new BufferSource(marked(pvImage(uuidA, older)), 'A'),
        new BufferSource(pvImage(uuidB, vgText(newerSpec)), 'B'),
      ]);
      expect(layout.volumeGroups.map((v) => v.seqno)).toEqual([3]);
      expect(layout.notes.join()).toMatch(/older metadata \(seqno 2\)/);
      expect((await lvNamed(layout, 'data').source!.read(0, 1))[0]).toBe(8);
    });

    it('records damage confined to one LV on that LV', async () => {
      const bad = (name: string, segments: LvSpec['segments']): LvSpec => ({ name, segments });
      const text = vgText(
        spec([
          linear,
          bad('unknown-pv', [{ startExtent: 0, extentCount: 1, stripes: [['pv9', 0]] }]),
          bad('past-pe-count', [{ startExtent: 0, extentCount: 2, stripes: [['pv1', 14]] }]),
          bad('gap', [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 0]] }, { startExtent: 2, extentCount: 1, stripes: [['pv0', 1]] }]),
          bad('odd-stripes', [{ startExtent: 0, extentCount: 3, stripes: [['pv0', 0], ['pv1', 0]], stripeSize: 128 }]),
        ]),
      );
      const layout = await detectLvm([new BufferSource(pvImage(uuidA, text), 'A'), new BufferSource(pvImage(uuidB, text), 'B')]);
      expect(lvNamed(layout, 'data').source).toBeDefined();
      expect(lvNamed(layout, 'unknown-pv').notScannedReason).toMatch(/metadata damaged: .*"pv9", which is not a PV/);
      expect(lvNamed(layout, 'past-pe-count').notScannedReason).toMatch(/runs past the 15 extents/);
      expect(lvNamed(layout, 'gap').notScannedReason).toMatch(/gap or overlap/);
      expect(lvNamed(layout, 'odd-stripes').notScannedReason).toMatch(/do not divide/);
    });

    it('refuses extents past the end of a PV that is shorter than the metadata says', async () => {
      const text = vgText(spec([{ name: 'tail', segments: [{ startExtent: 0, extentCount: 2, stripes: [['pv0', 13]] }] }]));
      const shortA = pvImage(uuidA, text).subarray(0, 10 * MiB);
      const layout = await detectLvm([new BufferSource(shortA, 'short A'), new BufferSource(pvImage(uuidB, text), 'B')]);
      expect(lvNamed(layout, 'tail').notScannedReason).toMatch(/run past the end of PV pv0/);
      // A source that lies about its size is caught when it reads short.
      const lying = new LvmVolumeSource('LV x/y', 2 * MiB, [{ start: 0, length: 2 * MiB, chunk: 2 * MiB, areas: [{ source: new BufferSource(shortA, 'short'), offset: 9 * MiB }] }]);
      await expectError(lying.read(0, 2 * MiB), 'corrupt', /ends inside/);
    });

    it('warns about damaged labels, areas and texts, and duplicate PVs', async () => {
      const text = vgText(spec([linear]));
      const cases: Array<[string, (img: Buffer) => void, RegExp]> = [
        ['label CRC', (img) => (img[512 + 100]! ^= 1), /LVM label.*CRC/],
        ['label sector', (img) => { img.writeBigUInt64LE(3n, 512 + 8); fixPvCrcs(img); }, /records sector 3/],
        ['label type', (img) => { img.write('LVM1 001', 512 + 24, 'latin1'); fixPvCrcs(img); }, /label type/],
        ['area magic', (img) => { img[4096 + 5] = 0x41; fixPvCrcs(img); }, /no LVM2 metadata magic/],
        ['area CRC', (img) => (img[4096 + 100]! ^= 1), /metadata area header.*CRC/],
        ['text CRC', (img) => (img[4096 + 520]! ^= 1), /metadata text.*CRC/],
        ['text offset', (img) => { img.writeBigUInt64LE(BigInt(MiB), 4096 + 40); fixPvCrcs(img); }, /outside the/],
        ['text size', (img) => { img.writeBigUInt64LE(BigInt(MiB), 4096 + 48); fixPvCrcs(img); }, /do not fit/],
        ['area past the end', (img) => { img.writeBigUInt64LE(1n << 40n, 512 + 104); fixPvCrcs(img); }, /past the end/],
      ];
      for (const [name, damage, warning] of cases) {
        const a = pvImage(uuidA, text);
        damage(a);
        const layout = await detectLvm([new BufferSource(a, `A (${name})`)]);
        expect(layout.warnings.map((w) => w.message).join('\n'), name).toMatch(warning);
        expect(layout.logicalVolumes, name).toEqual([]);
      }
      const garbage = pvImage(uuidA, 'vg { id = "x" seqno = 1 extent_size = ');
      expect((await detectLvm([new BufferSource(garbage, 'garbage')])).warnings.map((w) => w.message).join()).toMatch(/unexpected end of text/);
      const deep = pvImage(uuidA, 'a { '.repeat(5000));
      expect((await detectLvm([new BufferSource(deep, 'deep')])).warnings.map((w) => w.message).join()).toMatch(/nested more than/);

      const a = pvImage(uuidA, text);
      const dup = await detectLvm([new BufferSource(a, 'first'), new BufferSource(a, 'second'), new BufferSource(pvImage(uuidB, text), 'B')]);
      expect(dup.warnings.map((w) => w.message).join()).toMatch(/second: LVM PV label at offset 512: PV .* was already found on first/);
      expect(lvNamed(dup, 'data').source).toBeDefined();
    });

    it('survives random damage to the label, area header and text (fuzz)', async () => {
      const text = vgText(spec([linear, { name: 'str', segments: [{ startExtent: 0, extentCount: 4, stripes: [['pv0', 8], ['pv1', 8]], stripeSize: 64 }] }]));
      const base = pvImage(uuidA, text);
      const baseSource = new BufferSource(base, 'A');
      const other = new BufferSource(pvImage(uuidB, text), 'B');
      const textBytes = Buffer.byteLength(text);
      const hot = [[512, 160], [4096, 64], [4096 + 512, textBytes]] as const;
      let read = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ area: fc.nat(2), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 6 }),
          fc.boolean(),
          async (flips, fixCrcs) => {
            const img = Buffer.from(base.subarray(0, 2 * MiB));
            for (const { area, pos, xor } of flips) {
              const [start, len] = hot[area]!;
              img[start + (pos % len)]! ^= xor;
            }
            if (fixCrcs) {
              const h = img.subarray(4096, 4096 + 512);
              const len = Number(h.readBigUInt64LE(48));
              if (len <= textBytes + 1) h.writeUInt32LE(lvmCrc(img.subarray(4096 + 512, 4096 + 512 + len)), 56);
              fixPvCrcs(img);
            }
            try {
              const layout = await detectLvm([new PatchedSource(baseSource, [{ offset: 0, data: img }]), other]);
              for (const lv of layout.logicalVolumes) {
                if (lv.source) {
                  await lv.source.read(0, 4096);
                  read++;
                }
              }
            } catch (err) {
              if (!(err instanceof MountfsError)) throw err;
            }
          },
        ),
        { numRuns: 300 },
      );
      expect(read).toBeGreaterThan(10);
    });
  });

  describe('metadata text parser', () => {
    const sample = [
      '# a comment',
      'vg0 {',
      '\tid = "abc-def"  # trailing comment',
      '\tseqno = 17',
      '\tstatus = ["READ", "WRITE",]',
      '\tempty = []',
      '\tesc = "quote \\" and backslash \\\\ done"',
      "\tplain = 'single \\ quoted'",
      '\tbare = word-with.dots',
      '\tneg = -12',
      '\toctal = 010',
      '\tratio = 0.25',
      '\tbig = 18446744073709551615',
      '\t"quoted key" { inner = 1 }',
      '\tmixed = ["pv0", 0, "pv1", 128]',
      '}',
      'version = 1',
      '\0 ignored after the NUL {{{',
    ].join('\n');

    it('parses sections, comments, strings, numbers and lists', () => {
      const root = parseMetadataText(Buffer.from(sample));
      const vg = root.entries.get('vg0') as ConfigSection;
      const get = (k: string) => vg.entries.get(k);
      expect(get('id')).toEqual({ kind: 'string', value: 'abc-def' });
      expect(get('seqno')).toEqual({ kind: 'int', value: 17n });
      expect(get('status')).toEqual({ kind: 'list', items: [{ kind: 'string', value: 'READ' }, { kind: 'string', value: 'WRITE' }] });
      expect(get('empty')).toEqual({ kind: 'list', items: [] });
      expect(get('esc')).toEqual({ kind: 'string', value: 'quote " and backslash \\ done' });
      expect(get('plain')).toEqual({ kind: 'string', value: 'single \\ quoted' });
      expect(get('bare')).toEqual({ kind: 'string', value: 'word-with.dots' });
      expect(get('neg')).toEqual({ kind: 'int', value: -12n });
      expect(get('octal')).toEqual({ kind: 'int', value: 8n });
      expect(get('ratio')).toEqual({ kind: 'float', value: 0.25 });
      expect(get('big')).toEqual({ kind: 'int', value: 18446744073709551615n });
      expect((get('quoted key') as ConfigSection).entries.get('inner')).toEqual({ kind: 'int', value: 1n });
      expect((get('mixed') as { items: unknown[] }).items).toHaveLength(4);
      expect(root.entries.get('version')).toEqual({ kind: 'int', value: 1n });
    });

    it('parses what lvm2 writes', () => {
      const root = parseMetadataText(Buffer.from(vgText({
        name: 'v', id: randomLvmUuid(), seqno: 1, extentSize: 8192,
        pvs: [{ key: 'pv0', uuid: dashed(randomLvmUuid()), devSize: 100, peStart: 2048, peCount: 1 }],
        lvs: [{ name: 'l', segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 0]] }] }],
      })));
      expect([...root.entries.keys()]).toEqual(['v', 'contents', 'version', 'description']);
    });

    it('rejects malformed text with typed errors', () => {
      const bad: Array<[string, string, RegExp]> = [
        ['unterminated string', 'a = "abc', /unterminated string/],
        ['unclosed section', 'a { b = 1', /not closed/],
        ['unclosed list', 'a = [1, 2', /list is not closed/],
        ['missing =', 'a b', /expected "\{" or "="/],
        ['missing value', 'a = ', /expected a value/],
        ['value is a section', 'a = { }', /expected a value/],
        ['duplicate key', 'a = 1\na = 2', /duplicate key "a"/],
        ['stray brace', '}', /expected a name/],
        ['bad octal', 'a = 09', /malformed integer/],
        ['lone sign', 'a = -', /malformed integer/],
        ['empty name', '"" = 1', /empty name/],
      ];
      for (const [name, text, message] of bad) {
        let err: unknown;
        try {
          parseMetadataText(Buffer.from(text));
        } catch (e) {
          err = e;
        }
        expect(err, name).toBeInstanceOf(MountfsError);
        expect((err as Error).message, name).toMatch(message);
      }
      expect(() => parseMetadataText(Buffer.from('x { '.repeat(100_000)))).toThrow(/nested more than/);
      expect(() => parseMetadataText(Buffer.alloc((16 << 20) + 1, 0x20))).toThrow(MountfsError);
    });

    it('gives a parse or a MountfsError for any mutation of real metadata (fuzz)', () => {
      const real = Buffer.from(sample.split('\0')[0]! + '\n' + vgText({
        name: 'v', id: randomLvmUuid(), seqno: 1, extentSize: 8192,
        pvs: [{ key: 'pv0', uuid: randomLvmUuid(), devSize: 100, peStart: 2048, peCount: 10 }],
        lvs: [{ name: 'l', segments: [{ startExtent: 0, extentCount: 2, stripes: [['pv0', 0]] }] }],
      }));
      const punctuation = [...'{}[]=,"\'#\\\n \0-+.0123456789abc'].map((c) => c.charCodeAt(0));
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat(255) }),
        fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.constantFrom(...punctuation) }),
        fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), byte: fc.nat(40) }),
      );
      let parsed = 0;
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.option(fc.nat()), (mutations, cut) => {
          let b = Buffer.from(real);
          for (const m of mutations) {
            const at = m.at % (b.length + 1);
            if (m.kind === 'flip' && b.length) b[at % b.length] = m.byte;
            else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
            else b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.byte)]);
          }
          if (cut !== null) b = b.subarray(0, cut % (b.length + 1));
          try {
            parseMetadataText(b);
            parsed++;
          } catch (err) {
            if (!(err instanceof MountfsError)) throw err;
          }
        }),
        { numRuns: 2000 },
      );
      expect(parsed).toBeGreaterThan(50);
      // Random token soup as well: any string over the format's punctuation.
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...punctuation), { maxLength: 400 }), (bytes) => {
          try {
            parseMetadataText(Buffer.from(bytes));
          } catch (err) {
            if (!(err instanceof MountfsError)) throw err;
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});
