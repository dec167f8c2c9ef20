/**
 * Generators of hostile disks at the volume level, shared by the in-process tests of
 * what the readers make of them (test/mountfs/hostile-volumes.test.ts) and the traced
 * child scans (test/hostile-classes.test.ts): GPT tables made by sgdisk then edited
 * where sgdisk refuses (overlapping entries, every CRC32 resealed), and LVM PVs made by
 * lvm2 on a loop device whose committed metadata is then edited the way lvm2 refuses.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, open as openFile, readFile, writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import path from 'node:path';
import { lvm, lvmCrc, pvFacts, report, restoreVg, writeLvContents, type LoopDevices, type LvSpec } from './lvm-image.js';

const run = promisify(execFile);
const MiB = 1 << 20;

/** A small root filesystem (mkfs.ext4 -d) whose /etc/hostname is `name`. */
export async function hostnameExt4(dir: string, name: string, sizeMiB = 4): Promise<string> {
  const tree = path.join(dir, `${name}-tree`);
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc/hostname'), `${name}\n`);
  const out = path.join(dir, `${name}.ext4`);
  await run('mkfs.ext4', ['-q', '-F', '-b', '1024', '-d', tree, out, `${sizeMiB}M`]);
  return out;
}

/** An sgdisk-made GPT disk whose one partition holds `fs`. */
export async function gptDiskWith(dir: string, fs: string, name: string): Promise<string> {
  const disk = path.join(dir, `${name}.img`);
  await run('truncate', ['-s', '8M', disk]);
  await run('sgdisk', ['-n', '1:2048:0', '-t', '1:8300', disk]);
  await run('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
  return disk;
}

/**
 * A GPT disk made by sgdisk (table of `entries` entries, partition 1 holding `fs`),
 * whose entries 2.. are then rewritten as `edit` says, in both the primary and the
 * backup array, with every CRC32 recomputed: sgdisk itself refuses overlapping
 * partitions, which is the point.
 */
export async function gptWithEntries(dir: string, name: string, fs: string, entries: number, edit: (entry: Buffer, i: number, first: Buffer) => void): Promise<string> {
  const disk = path.join(dir, `${name}.img`);
  await run('truncate', ['-s', '24M', disk]);
  await run('sgdisk', ['-o', `--resize-table=${entries}`, '-n', '1:8192:+8M', '-t', '1:8300', disk]);
  await run('dd', [`if=${fs}`, `of=${disk}`, 'bs=512', 'seek=8192', 'conv=notrunc', 'status=none']);
  const f = await openFile(disk, 'r+');
  try {
    const primary = Buffer.alloc(512);
    await f.read(primary, 0, 512, 512);
    for (const lba of [1, Number(primary.readBigUInt64LE(32))]) {
      const header = Buffer.alloc(512);
      await f.read(header, 0, 512, lba * 512);
      const arrayAt = Number(header.readBigUInt64LE(72)) * 512;
      const count = header.readUInt32LE(80);
      const size = header.readUInt32LE(84);
      const array = Buffer.alloc(count * size);
      await f.read(array, 0, array.length, arrayAt);
      const first = Buffer.from(array.subarray(0, size));
      for (let i = 1; i < count; i++) edit(array.subarray(i * size, (i + 1) * size), i, first);
      await f.write(array, 0, array.length, arrayAt);
      header.writeUInt32LE(crc32(array), 88);
      header.writeUInt32LE(0, 16);
      header.writeUInt32LE(crc32(header.subarray(0, header.readUInt32LE(12))), 16);
      await f.write(header, 0, 512, lba * 512);
    }
  } finally {
    await f.close();
  }
  return disk;
}

/** Entry i as a copy of entry 1 moved to start `startShift` sectors later and `shrink` sectors shorter. */
export function copyOfFirst(entry: Buffer, first: Buffer, startShift: number, shrink: number): void {
  first.copy(entry);
  entry.writeBigUInt64LE(first.readBigUInt64LE(32) + BigInt(startShift), 32);
  entry.writeBigUInt64LE(first.readBigUInt64LE(40) - BigInt(shrink), 40);
}

/** 40 GPT partitions each 8 sectors after the one before over one filesystem: 24 past the cap on overlapping volumes. */
export const overlappingPartitions = (dir: string, fs: string) =>
  gptWithEntries(dir, 'overlaps', fs, 128, (entry, i, first) => {
    if (i < 40) copyOfFirst(entry, first, i * 8, 0);
  });

/**
 * A GPT disk whose partition 1 is an LVM PV (at 1 MiB), with a VG restored by lvm2
 * from `lvs`; the filesystem `fs` is written into the LV named `fsLv`.
 */
export async function lvmDisk(dir: string, loops: LoopDevices, name: string, fs: Buffer, lvs: LvSpec[], fsLv: string, pvcreateArgs: string[] = []): Promise<string> {
  const disk = path.join(dir, `${name}.img`);
  await run('truncate', ['-s', '40M', disk]);
  await run('sgdisk', ['-n', '1:2048:0', '-t', '1:8e00', disk]);
  const dev = await loops.attach(disk, { offset: MiB, size: 39 * MiB });
  await lvm('pvcreate', ['-y', '-ff', ...pvcreateArgs, dev], [dev]);
  await lvm('vgcreate', ['hostile', dev], [dev]);
  const facts = await pvFacts(dev, [dev]);
  const extentSize = Number(await report('vgs', 'vg_extent_size', 'hostile', [dev]));
  const id = await report('vgs', 'vg_uuid', 'hostile', [dev]);
  await restoreVg(dir, { name: 'hostile', id, seqno: 2, extentSize, pvs: [{ key: 'pv0', ...facts }], lvs }, [dev]);
  await loops.detach(dev);
  const lv = lvs.find((l) => l.name === fsLv)!;
  const padded = Buffer.alloc(lv.segments[0]!.extentCount * extentSize * 512);
  fs.copy(padded, 0, 0, Math.min(fs.length, padded.length));
  await writeLvContents(padded, lv, extentSize * 512, new Map([['pv0', { file: disk, extentZero: MiB + facts.peStart * 512 }]]));
  return disk;
}

/**
 * An LVM disk whose PV's metadata area (20 MiB, made by pvcreate) claims 17 MiB of
 * committed text, over the 16 MiB minescan reads; the header CRC is resealed.
 */
export async function lvmMetadataOverCap(dir: string, loops: LoopDevices, fs: Buffer): Promise<string> {
  const root: LvSpec = { name: 'root', segments: [{ startExtent: 0, extentCount: 1, stripes: [['pv0', 0]] }] };
  const disk = await lvmDisk(dir, loops, 'big-metadata', fs, [root], 'root', ['--metadatasize', '20m']);
  const img = await readFile(disk);
  const mda = MiB + 4096;
  img.writeBigUInt64LE(17n << 20n, mda + 48);
  img.writeUInt32LE(lvmCrc(img.subarray(mda + 4, mda + 512)), mda);
  await writeFile(disk, img);
  return disk;
}

/** An ext4 filesystem (debugfs sets the feature word and reseals the superblock) with an incompatible feature no reader knows, in a GPT disk. */
export async function unknownFeatureDisk(dir: string, fs: string): Promise<string> {
  const sb = await readFile(fs);
  const current = sb.readUInt32LE(1024 + 0x60);
  await run('debugfs', ['-w', '-R', `ssv feature_incompat 0x${(current | 0x4000000).toString(16)}`, fs]);
  return gptDiskWith(dir, fs, `${path.basename(fs)}-gpt`);
}
