/**
 * The parsers fuzzed by fuzz-harness.ts, one target each, with the real image it
 * mutates: partition tables by sgdisk and sfdisk, an LVM PV by lvm2, filesystems by
 * mkfs.ext4 -d and mkfs.xfs -p, containers by qemu-img, archives by tar, zip, gzip,
 * zstd and xz. Only the metadata regions are mutated (changing file contents tests
 * nothing). Every input goes through openImage, the chain a scan uses, and each
 * filesystem found is walked.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openImage } from '../../mountfs/open-image.js';
import { exercise, type FuzzBase, type FuzzTarget, type MutatedImage } from './fuzz-harness.js';
import { buildImage } from './images.js';
import { nowhere } from '../../mountfs/sources/named-files.js';
import { SpoolBudget } from '../../mountfs/sources/temp-spool.js';
import { buildLvmGptDisk } from './lvm-disk.js';
import { xfsFromTreeByProto } from './xfs-image.js';
import { parseBootSector } from '../../mountfs/fs/ntfs/boot-sector.js';

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1 << 20;

/** `file`: the input written to the host, for the readers that open their file themselves (zip). */
async function openAndWalk(input: MutatedImage, file?: string): Promise<void> {
  // A fuzzed disk names no files (they resolve nowhere); spools are bounded like a scan's.
  const spool = await SpoolBudget.create({ budget: 64 * MiB });
  const parts = await openImage(input, { retain: ['/**'], files: nowhere('in a fuzzed input'), hostPath: file, counter: { bytesRead: 0 }, spool });
  try {
    for (const fs of parts.filesystems) await exercise(fs.vfs);
  } finally {
    await parts.close();
  }
}

/**
 * The small tree every image holds, kept small so that an input costs milliseconds: nested
 * directories, a directory of 200 entries (hashed or btree directories), a file of a
 * few blocks, short and long symlinks, a hard link.
 */
async function tree(dir: string): Promise<string> {
  const root = path.join(dir, 'tree');
  for (const d of ['etc/cron.d', 'usr/bin', 'var/spool/cron/crontabs', 'big']) await mkdir(path.join(root, d), { recursive: true });
  await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  await writeFile(path.join(root, 'etc/cron.d/job'), '* * * * * root /usr/bin/tool\n');
  await writeFile(path.join(root, 'var/spool/cron/crontabs/root'), '@reboot /usr/bin/tool\n');
  await writeFile(path.join(root, 'usr/bin/tool'), Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(70_000, 0x41)]), { mode: 0o755 });
  for (let i = 0; i < 200; i++) await writeFile(path.join(root, 'big', `entry-with-a-longer-name-${i}`), `${i}\n`);
  await symlink('../usr/bin/tool', path.join(root, 'etc/short-link'));
  await symlink(`/${'a-long-symlink-target/'.repeat(8)}tool`, path.join(root, 'etc/long-link'));
  await link(path.join(root, 'usr/bin/tool'), path.join(root, 'usr/bin/tool-hardlink'));
  return root;
}

async function ext4Image(dir: string): Promise<string> {
  const out = path.join(dir, 'ext4.img');
  await run('mkfs.ext4', ['-q', '-F', '-b', '1024', '-d', await tree(dir), out, '4M']);
  return out;
}

async function gptImage(dir: string): Promise<string> {
  return buildImage(await tree(dir), path.join(dir, 'gpt.img'), { table: 'gpt', sizeMiB: 8 });
}

const whole = (bytes: Buffer): FuzzBase => ({ bytes, regions: [[0, bytes.length]] });
const head = (bytes: Buffer, n: number): FuzzBase => ({ bytes, regions: [[0, Math.min(n, bytes.length)]] });

/** Every sector that ends in 0x55AA: the MBR and each extended boot record. */
function bootRecords(bytes: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s + 512 <= bytes.length; s += 512) if (bytes[s + 510] === 0x55 && bytes[s + 511] === 0xaa) out.push([s + 446, s + 512]);
  return out;
}

async function container(dir: string, format: string, options: string[], regionBytes: number): Promise<FuzzBase> {
  const out = path.join(dir, `disk.${format}`);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, await gptImage(dir), out]);
  const bytes = await readFile(out);
  const regions: Array<[number, number]> = [[0, Math.min(regionBytes, bytes.length)]];
  if (format === 'vpc') regions.push([bytes.length - 512, bytes.length]);
  return { bytes, regions };
}

async function archive(dir: string, name: string, command: string): Promise<FuzzBase> {
  const root = await tree(dir);
  const out = path.join(dir, name);
  await run('bash', ['-c', command.replace('{root}', root).replace('{out}', out)]);
  return whole(await readFile(out));
}

/**
 * An NTFS volume (mkntfs) with the tree written through ntfs-3g. Mutated: the boot
 * sector, the MFT records the tree uses (headers, attributes, runs, index roots) and
 * every INDX record of the directory indexes.
 */
async function ntfsBase(dir: string): Promise<FuzzBase> {
  const out = path.join(dir, 'ntfs.img');
  const mnt = path.join(dir, 'ntfs-mnt');
  await mkdir(mnt, { recursive: true });
  await run('truncate', ['-s', '6M', out]);
  await run('mkntfs', ['-F', '-Q', '-q', '-c', '1024', out]);
  await run('ntfs-3g', [out, mnt]);
  try {
    await run('cp', ['-a', `${await tree(dir)}/.`, mnt]);
  } finally {
    await run('umount', [mnt]);
  }
  const bytes = await readFile(out);
  const g = parseBootSector(bytes.subarray(0, 512));
  const mft = g.mftLcn * g.clusterSize;
  const regions: Array<[number, number]> = [[0, 512], [mft, mft + 300 * g.mftRecordSize]];
  for (let at = 0; at + g.indexRecordSize <= bytes.length; at += g.clusterSize) {
    if (bytes.toString('latin1', at, at + 4) === 'INDX') regions.push([at, at + g.indexRecordSize]);
  }
  return { bytes, regions };
}

export const FUZZ_TARGETS: FuzzTarget[] = [
  {
    name: 'gpt',
    async build(dir) {
      const bytes = await readFile(await gptImage(dir));
      return { bytes, regions: [[0, 34 * 512], [bytes.length - 33 * 512, bytes.length]] };
    },
    open: (input) => openAndWalk(input),
  },
  {
    name: 'mbr',
    async build(dir) {
      const out = path.join(dir, 'mbr.img');
      await run('truncate', ['-s', '32M', out]);
      // A primary partition with ext4 and an extended one with a chain of three logicals.
      const table = 'label: dos\nstart=2048, size=32768, type=83\nstart=36864, type=5\nstart=38912, size=2048, type=83\nstart=43008, size=2048, type=83\nstart=47104, type=83\n';
      await run('bash', ['-c', `printf '${table}' | sfdisk -q ${out}`]);
      await run('dd', [`if=${await ext4Image(dir)}`, `of=${out}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
      const bytes = await readFile(out);
      return { bytes, regions: bootRecords(bytes) };
    },
    open: (input) => openAndWalk(input),
  },
  {
    name: 'lvm',
    async build(dir) {
      const bytes = await readFile(await buildLvmGptDisk(await ext4Image(dir), path.join(dir, 'lvm.img'), 'fuzzvg'));
      // The PV starts at 1 MiB: its label sector and the start of its metadata area.
      return { bytes, regions: [[MiB, MiB + 1024], [MiB + 4096, MiB + 12 * KiB]] };
    },
    open: (input) => openAndWalk(input),
  },
  {
    name: 'ext4',
    async build(dir) {
      const bytes = await readFile(await ext4Image(dir));
      return { bytes, regions: [[1024, 400 * KiB]] };
    },
    open: (input) => openAndWalk(input),
  },
  {
    name: 'xfs',
    async build(dir) {
      const out = path.join(dir, 'xfs.img');
      await xfsFromTreeByProto(await tree(dir), out, [], 64);
      return head(await readFile(out), MiB);
    },
    open: (input) => openAndWalk(input),
  },
  { name: 'qcow2', build: (dir) => container(dir, 'qcow2', [], 320 * KiB), open: (input) => openAndWalk(input) },
  { name: 'vmdk', build: (dir) => container(dir, 'vmdk', [], 128 * KiB), open: (input) => openAndWalk(input) },
  { name: 'vhd', build: (dir) => container(dir, 'vpc', [], 64 * KiB), open: (input) => openAndWalk(input) },
  { name: 'vhdx', build: (dir) => container(dir, 'vhdx', [], 4 * MiB), open: (input) => openAndWalk(input) },
  {
    name: 'tar',
    build: (dir) => archive(dir, 'a.tar', 'tar -C {root} --format=posix -cf {out} .'),
    open: (input) => openAndWalk(input),
  },
  {
    name: 'zip',
    build: (dir) => archive(dir, 'a.zip', 'cd {root} && zip -qry {out} .'),
    async open(input, dir) {
      // The zip reader opens its file itself.
      const file = path.join(dir, 'fuzzed.zip');
      await writeFile(file, input.toBuffer());
      await openAndWalk(input, file);
    },
  },
  { name: 'tar.gz', build: (dir) => archive(dir, 'a.tar.gz', 'tar -C {root} -cf - . | gzip -c > {out}'), open: (input) => openAndWalk(input) },
  { name: 'tar.zst', build: (dir) => archive(dir, 'a.tar.zst', 'tar -C {root} -cf - . | zstd -q -c > {out}'), open: (input) => openAndWalk(input) },
  { name: 'tar.xz', build: (dir) => archive(dir, 'a.tar.xz', 'tar -C {root} -cf - . | xz -c > {out}'), open: (input) => openAndWalk(input) },
  { name: 'ntfs', build: ntfsBase, open: (input) => openAndWalk(input) },
];
