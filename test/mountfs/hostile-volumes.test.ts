/**
 * Hostile disks at the volume level, each built with the real tools (sgdisk, sfdisk,
 * mkfs.ext4, debugfs, lvm2's pvcreate/vgcfgrestore on a loop device) and opened the
 * way a scan opens a target. For each: a result that is right, the reason in what the
 * report is built from (OpenedTarget.warnings become the report's errors, which make
 * the scan incomplete; volume notes), and bounded work, counted as bytes read and
 * filesystems opened (the test timeout only catches hangs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openTarget, type OpenedTarget } from '../../mountfs/open-target.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { LoopDevices, lvm, pvFacts, report, restoreVg, writeLvContents, type LvSpec } from '../helpers/lvm-image.js';

const run = promisify(execFile);
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

/** A small root filesystem with one file the tests look for. */
async function ext4Image(name: string, sizeMiB = 4): Promise<string> {
  const tree = path.join(scratch, `${name}-tree`);
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc/hostname'), `${name}\n`);
  const out = path.join(scratch, `${name}.ext4`);
  await run('mkfs.ext4', ['-q', '-F', '-b', '1024', '-d', tree, out, `${sizeMiB}M`]);
  return out;
}

async function open(file: string): Promise<{ opened: OpenedTarget; bytesRead: number; hostnames: string[] }> {
  const counter = { bytesRead: 0 };
  const opened = await openTarget(file, counter, { retain: [] });
  const hostnames: string[] = [];
  for (const fs of opened.filesystems) hostnames.push((await fs.vfs.readFile('/etc/hostname')).toString().trim());
  return { opened, bytesRead: counter.bytesRead, hostnames };
}

describe('a recognised volume that cannot be read makes the scan incomplete', () => {
  it('an ext4 partition with an unknown incompatible feature: a warning naming the volume and the feature', async () => {
    const fs = await ext4Image('odd');
    // debugfs writes the feature word (and the superblock checksum) as asked.
    const sb = await readFile(fs);
    const current = sb.readUInt32LE(1024 + 0x60);
    await run('debugfs', ['-w', '-R', `ssv feature_incompat 0x${(current | 0x4000000).toString(16)}`, fs]);
    const disk = path.join(scratch, 'odd-gpt.img');
    await run('truncate', ['-s', '8M', disk]);
    await run('sgdisk', ['-n', '1:2048:0', '-t', '1:8300', disk]);
    await run('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);

    const { opened, bytesRead } = await open(disk);
    try {
      expect(opened.filesystems).toHaveLength(0);
      expect(opened.volumes[0]).toMatchObject({ scheme: 'gpt', filesystem: 'ext4', scanned: false });
      expect(opened.warnings).toEqual([expect.stringMatching(/^gpt volume 1 \(Linux filesystem\) \(ext4\) cannot be read: .*0x4000000/)]);
      expect(bytesRead).toBeLessThan(MiB);
    } finally {
      await opened.close();
    }
  });

  it('a thin LVM volume (not read yet) is a warning; its pool and an ordinary LV are not', async () => {
    const fs = await readFile(await ext4Image('root'));
    const disk = path.join(scratch, 'thin.img');
    await run('truncate', ['-s', '40M', disk]);
    await run('sgdisk', ['-n', '1:2048:0', '-t', '1:8e00', disk]);
    const dev = await loops.attach(disk, { offset: MiB, size: 39 * MiB });
    await lvm('pvcreate', ['-y', '-ff', dev], [dev]);
    await lvm('vgcreate', ['hostile', dev], [dev]);
    const facts = await pvFacts(dev, [dev]);
    const extentSize = Number(await report('vgs', 'vg_extent_size', 'hostile', [dev]));
    const id = await report('vgs', 'vg_uuid', 'hostile', [dev]);
    const root: LvSpec = { name: 'root', segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 0]] }] };
    const lvs: LvSpec[] = [
      root,
      { name: 'pool', segments: [{ startExtent: 0, extentCount: 2, type: 'thin-pool', extra: ['metadata = "pool_tmeta"', 'pool = "pool_tdata"', 'transaction_id = 1', 'chunk_size = 128', 'zero_new_blocks = 1'] }] },
      { name: 'thin', segments: [{ startExtent: 0, extentCount: 1, type: 'thin', extra: ['thin_pool = "pool"', 'transaction_id = 0', 'device_id = 1'] }] },
      { name: 'pool_tmeta', visible: false, segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 1]] }] },
      { name: 'pool_tdata', visible: false, segments: [{ startExtent: 0, extentCount: 2, stripes: [['pv0', 2]] }] },
    ];
    await restoreVg(scratch, { name: 'hostile', id, seqno: 2, extentSize, pvs: [{ key: 'pv0', ...facts }], lvs }, [dev]);
    expect(await lvm('lvs', ['--noheadings', '-o', 'lv_name,segtype', 'hostile'], [dev])).toMatch(/thin\s+thin/);
    await loops.detach(dev);
    const padded = Buffer.alloc(extentSize * 512);
    fs.copy(padded, 0, 0, Math.min(fs.length, padded.length));
    await writeLvContents(padded, root, extentSize * 512, new Map([['pv0', { file: disk, extentZero: MiB + facts.peStart * 512 }]]));

    const { opened, hostnames } = await open(disk);
    try {
      expect(hostnames).toEqual(['root']);
      expect(opened.warnings).toEqual([expect.stringMatching(/^lvm volume hostile\/thin is not scanned: thin volume: not read yet/)]);
      expect(opened.volumes.find((v) => v.type === 'hostile/pool')?.notes.join()).toMatch(/thin pool/);
    } finally {
      await opened.close();
    }
  });
});
