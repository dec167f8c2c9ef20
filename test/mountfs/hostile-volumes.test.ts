/**
 * Hostile disks at the volume level, each built with the real tools (sgdisk, sfdisk,
 * mkfs.ext4, debugfs, lvm2's pvcreate/vgcfgrestore on a loop device) and opened the
 * way a scan opens a target. For each: a result that is right, the reason in what the
 * report is built from (OpenedTarget.warnings become the report's errors, which make
 * the scan incomplete; volume notes), and bounded work, counted as bytes read and
 * filesystems opened (the test timeout only catches hangs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open as openFile, readFile, stat, writeFile } from 'node:fs/promises';
import { openTarget, type OpenedTarget } from '../../mountfs/open-target.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { LoopDevices, lvmCrc, type LvSpec } from '../helpers/lvm-image.js';
import { copyOfFirst, gptDiskWith as gptDiskIn, gptWithEntries as gptIn, hostnameExt4, lvmDisk as lvmDiskIn, lvmMetadataOverCap, overlappingPartitions, unknownFeatureDisk } from '../helpers/hostile-volumes.js';

const MiB = 1 << 20;

let scratch: string;
const loops = new LoopDevices();
beforeAll(async () => {
  scratch = await makeScratchDir('minescan-hostile-volumes-');
});
afterAll(async () => {
  await loops.detachAll();
  if (scratch) await removeScratchDir(scratch);
});

const ext4Image = (name: string, sizeMiB = 4) => hostnameExt4(scratch, name, sizeMiB);
const gptDiskWith = (fs: string, name: string) => gptDiskIn(scratch, fs, name);
const gptWithEntries = (name: string, fs: string, entries: number, edit: (entry: Buffer, i: number, first: Buffer) => void) => gptIn(scratch, name, fs, entries, edit);
const lvmDisk = (name: string, fs: Buffer, lvs: LvSpec[], fsLv: string) => lvmDiskIn(scratch, loops, name, fs, lvs, fsLv);

async function open(file: string): Promise<{ opened: OpenedTarget; bytesRead: number; hostnames: string[] }> {
  const counter = { bytesRead: 0 };
  const opened = await openTarget(file, counter, { retain: [] });
  const hostnames: string[] = [];
  for (const fs of opened.filesystems) hostnames.push((await fs.vfs.readFile('/etc/hostname')).toString().trim());
  return { opened, bytesRead: counter.bytesRead, hostnames };
}

describe('partitions over the same sectors are read once', () => {
  it('16384 GPT entries over one filesystem: one scan, the rest listed as aliases', async () => {
    const disk = await gptWithEntries('aliases', await ext4Image('aliased', 8), 16384, (entry, i, first) => copyOfFirst(entry, first, 0, i % 7));
    const { opened, bytesRead, hostnames } = await open(disk);
    try {
      expect(hostnames).toEqual(['aliased']);
      expect(opened.volumes).toHaveLength(16384);
      const aliases = opened.volumes.filter((v) => v.aliasOf === 'GPT partition 1');
      expect(aliases).toHaveLength(16383);
      expect(aliases[0]!.notes.join()).toMatch(/an alias of it, not scanned again/);
      expect(aliases.every((v) => !v.scanned)).toBe(true);
      expect(opened.warnings).toEqual([]);
      // The two 2 MiB entry arrays and one filesystem's metadata, not 16384 probes.
      expect(bytesRead).toBeLessThan(6 * MiB);
    } finally {
      await opened.close();
    }
  });

  it('partly overlapping partitions are each scanned up to a cap; past it they are listed and the scan is incomplete', async () => {
    const disk = await overlappingPartitions(scratch, await ext4Image('overlapped', 8));
    const { opened, bytesRead, hostnames } = await open(disk);
    try {
      expect(hostnames).toEqual(['overlapped']);
      expect(opened.volumes).toHaveLength(40);
      expect(opened.volumes[0]!.notes.join()).toMatch(/shares sectors with GPT partition 2/);
      const skipped = opened.volumes.filter((v) => v.notes.some((n) => /not scanned: more than 16 GPT volumes share sectors/.test(n)));
      expect(skipped.map((v) => v.index)).toEqual(Array.from({ length: 24 }, (_, k) => k + 17));
      // Typed, so the report's error names the first partition left unscanned and where it lies.
      expect(opened.warnings).toHaveLength(1);
      expect(opened.warnings[0]).toMatchObject({
        kind: 'limit',
        structure: 'GPT partition 17',
        offset: opened.volumes[16]!.start,
        detail: '40 GPT volumes share sectors with others; only the first 16 of them are scanned (the cap on overlapping volumes), 24 are listed unscanned',
      });
      expect(bytesRead).toBeLessThan(4 * MiB);
    } finally {
      await opened.close();
    }
  });
});

/**
 * Edits the committed metadata text of the PV at `pvStart` (lvm2 refuses to write LVs
 * over the same extents: its own checks say "PV segments corrupted"), keeping its
 * length, and reseals the text checksum and the metadata area header CRC.
 */
async function editLvmText(disk: string, pvStart: number, edit: (text: string) => string): Promise<void> {
  const img = await readFile(disk);
  const mda = pvStart + 4096;
  const offset = Number(img.readBigUInt64LE(mda + 40));
  const size = Number(img.readBigUInt64LE(mda + 48));
  const text = img.subarray(mda + offset, mda + offset + size);
  const edited = Buffer.from(edit(text.toString('latin1')), 'latin1');
  expect(edited.length).toBe(size);
  expect(edited.equals(text)).toBe(false);
  edited.copy(text);
  img.writeUInt32LE(lvmCrc(edited), mda + 56);
  img.writeUInt32LE(lvmCrc(img.subarray(mda + 4, mda + 512)), mda);
  await writeFile(disk, img);
}

describe('logical volumes over the same extents are read once', () => {
  it('an LV over the first extents of another is its alias; one that partly overlaps is scanned with a note', async () => {
    const fs = await readFile(await ext4Image('lvalias'));
    const linear = (name: string, start: number, count: number): LvSpec => ({ name, segments: [{ startExtent: 0, extentCount: count, stripes: [['pv0', start]] }] });
    const disk = await lvmDisk('lv-alias', fs, [linear('a', 0, 2), linear('b', 2, 1), linear('c', 3, 2)], 'a');
    // b moves onto extent 0 (within a), c onto extents 1-2 (half over a).
    await editLvmText(disk, MiB, (text) =>
      text.replace(/(\bb \{[^}]*stripes = \[\s*"pv0", )2/, '$10').replace(/(\bc \{[^}]*stripes = \[\s*"pv0", )3/, '$11'),
    );
    const { opened, hostnames } = await open(disk);
    try {
      expect(hostnames).toEqual(['lvalias']);
      expect(opened.filesystems).toHaveLength(1);
      const lv = (name: string) => opened.volumes.find((v) => v.scheme === 'lvm' && v.type === `hostile/${name}`)!;
      expect(lv('b')).toMatchObject({ aliasOf: 'LV hostile/a', scanned: false });
      expect(lv('b').notes.join()).toMatch(/an alias of it, not scanned again/);
      expect(lv('a').notes.join()).toMatch(/shares sectors with LV hostile\/c/);
      expect(lv('c').notes.join()).toMatch(/shares sectors with LV hostile\/a/);
      expect(opened.warnings).toEqual([]);
    } finally {
      await opened.close();
    }
  });
});

describe('a table over its caps is read up to the cap, and says so', () => {
  it('a GPT of 16512 entries (sgdisk --resize-table): the first 16384 are read, with a warning naming the cap', async () => {
    const disk = await gptWithEntries('big-table', await ext4Image('capped', 8), 16512, () => undefined);
    const { opened, hostnames, bytesRead } = await open(disk);
    try {
      expect(hostnames).toEqual(['capped']);
      // Two capped entry arrays of 2 MiB and one filesystem's metadata.
      expect(bytesRead).toBeLessThan(6 * MiB);
      expect(opened.volumes[0]).toMatchObject({ scheme: 'gpt', index: 1, scanned: true });
      expect(opened.warnings.map((w) => w.message)).toEqual([
        expect.stringMatching(/^GPT header at offset 592: 16512 partition entries of 128 bytes: only the first 16384 are read \(at most 16384 entries/),
      ]);
    } finally {
      await opened.close();
    }
  });
});

describe('LVM metadata over its caps', () => {
  it('a metadata text longer than 16 MiB is not read: the warning names the cap and the area, and nothing is scanned', async () => {
    const fs = await readFile(await ext4Image('bigmeta'));
    const disk = await lvmMetadataOverCap(scratch, loops, fs);
    const counter = { bytesRead: 0 };
    const opened = await openTarget(disk, counter, { retain: [] });
    try {
      expect(opened.filesystems).toHaveLength(0);
      expect(opened.volumes).toEqual([expect.objectContaining({ scheme: 'gpt', filesystem: 'LVM2_member' })]);
      expect(opened.warnings.map((w) => w.message).join('\n')).toMatch(/^LVM: .* metadata area at 4096: LVM metadata area header at offset 4144: 17825792 bytes of metadata text \(at most 16777216 are read\)$/m);
      expect(opened.warnings.map((w) => w.message).join('\n')).toMatch(/belongs to no volume group that could be read/);
      expect(opened.warnings[0]).toMatchObject({ kind: 'limit', structure: 'LVM metadata area header', offset: 4144 });
      expect(counter.bytesRead).toBeLessThan(MiB);
    } finally {
      await opened.close();
    }
  });
});

describe('what costs nothing is a note, not an error', () => {
  it('a damaged backup GPT whose primary was used', async () => {
    const disk = await gptDiskWith(await ext4Image('backup'), 'bad-backup');
    const last = (await stat(disk)).size - 512;
    const f = await openFile(disk, 'r+');
    await f.write(Buffer.alloc(8, 0x58), 0, 8, last + 16); // the backup header's CRC32 and reserved word
    await f.close();
    const { opened, hostnames } = await open(disk);
    try {
      expect(hostnames).toEqual(['backup']);
      expect(opened.warnings).toEqual([]);
      expect(opened.notes).toEqual([expect.stringMatching(/backup GPT at LBA \d+ is damaged: .*CRC32/)]);
    } finally {
      await opened.close();
    }
  });
});

describe('a recognised volume that cannot be read makes the scan incomplete', () => {
  it('an ext4 partition with an unknown incompatible feature: a failure naming the volume and the feature', async () => {
    const disk = await unknownFeatureDisk(scratch, await ext4Image('odd'));

    const { opened, bytesRead } = await open(disk);
    try {
      expect(opened.filesystems).toHaveLength(0);
      expect(opened.volumes[0]).toMatchObject({ scheme: 'gpt', filesystem: 'ext4', scanned: false });
      expect(opened.failures.map((f) => [f.volume, (f.error as Error).message])).toEqual([[0, expect.stringMatching(/0x4000000/)]]);
      expect(bytesRead).toBeLessThan(MiB);
    } finally {
      await opened.close();
    }
  });

  it('a thin LVM volume (not read yet) is a failure; its pool and an ordinary LV are not', async () => {
    const fs = await readFile(await ext4Image('root'));
    const root: LvSpec = { name: 'root', segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 0]] }] };
    const lvs: LvSpec[] = [
      root,
      { name: 'pool', segments: [{ startExtent: 0, extentCount: 2, type: 'thin-pool', extra: ['metadata = "pool_tmeta"', 'pool = "pool_tdata"', 'transaction_id = 1', 'chunk_size = 128', 'zero_new_blocks = 1'] }] },
      { name: 'thin', segments: [{ startExtent: 0, extentCount: 1, type: 'thin', extra: ['thin_pool = "pool"', 'transaction_id = 0', 'device_id = 1'] }] },
      { name: 'pool_tmeta', visible: false, segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 1]] }] },
      { name: 'pool_tdata', visible: false, segments: [{ startExtent: 0, extentCount: 2, stripes: [['pv0', 2]] }] },
    ];
    const disk = await lvmDisk('thin', fs, lvs, 'root');
    const { opened, hostnames } = await open(disk);
    try {
      expect(hostnames).toEqual(['root']);
      const thin = opened.volumes.findIndex((v) => v.type === 'hostile/thin');
      expect(opened.failures.map((f) => [f.volume, (f.error as Error).message])).toEqual([[thin, expect.stringMatching(/^LV hostile\/thin: thin volume: not read yet/)]]);
      expect(opened.volumes.find((v) => v.type === 'hostile/pool')?.notes.join()).toMatch(/thin pool/);
    } finally {
      await opened.close();
    }
  });
});
