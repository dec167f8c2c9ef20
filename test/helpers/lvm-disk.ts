/**
 * A server disk the way on-premises RHEL lays it out: GPT, one partition holding an
 * LVM physical volume, a volume group with a logical volume "root" that holds the
 * given filesystem image. lvm2 writes the PV label and the VG metadata (on a loop
 * device over the partition: this kernel has no device-mapper, so the LV is never
 * activated); the filesystem bytes are written at the extents the metadata names.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LoopDevices, lvm, pvFacts, report, restoreVg, writeLvContents, type LvSpec } from './lvm-image.js';

const run = promisify(execFile);
const MiB = 1 << 20;

export async function buildLvmGptDisk(fsImage: string, out: string, vgName: string): Promise<string> {
  const fs = await readFile(fsImage);
  const diskMiB = Math.ceil(fs.length / MiB) + 16;
  await run('truncate', ['-s', `${diskMiB}M`, out]);
  await run('sgdisk', ['-n', '1:2048:0', '-t', '1:8e00', '-c', '1:lvm', out]);
  const info = (await run('sgdisk', ['-i', '1', out])).stdout;
  const first = Number(/First sector: (\d+)/.exec(info)![1]);
  const last = Number(/Last sector: (\d+)/.exec(info)![1]);
  const part = { start: first * 512, size: (last - first + 1) * 512 };
  const loops = new LoopDevices();
  try {
    const dev = await loops.attach(out, { offset: part.start, size: part.size });
    await lvm('pvcreate', ['-y', '-ff', dev], [dev]);
    await lvm('vgcreate', [vgName, dev], [dev]);
    const facts = await pvFacts(dev, [dev]);
    const extentSize = Number(await report('vgs', 'vg_extent_size', vgName, [dev]));
    const extents = Math.ceil(fs.length / (extentSize * 512));
    const root: LvSpec = { name: 'root', segments: [{ startExtent: 0, extentCount: extents, stripes: [['pv0', 0]] }] };
    const id = await report('vgs', 'vg_uuid', vgName, [dev]);
    await restoreVg(path.dirname(out), { name: vgName, id, seqno: 2, extentSize, pvs: [{ key: 'pv0', ...facts }], lvs: [root] }, [dev]);
    await loops.detach(dev);
    const padded = Buffer.alloc(extents * extentSize * 512);
    fs.copy(padded);
    await writeLvContents(padded, root, extentSize * 512, new Map([['pv0', { file: out, extentZero: part.start + facts.peStart * 512 }]]));
  } finally {
    await loops.detachAll();
  }
  return out;
}
