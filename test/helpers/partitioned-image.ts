/**
 * Builds partitioned disk images with the real tools (sgdisk for GPT, sfdisk for MBR),
 * optionally with filesystem images written into partitions, and reads back what
 * `sfdisk --json` says the table holds: the ground truth the volume parsers are
 * compared with. GPT with 4096-byte sectors is made through a loop device with a
 * 4096-byte logical block size (neither tool takes a sector size for a plain file).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { open, stat, truncate, writeFile } from 'node:fs/promises';

export const run = promisify(execFile);

export interface PartitionSpec {
  sizeMiB: number;
  /** GPT: an sgdisk type code ('8300', 'ef00', '8e00', '8200') or a type GUID. MBR: the type byte in hex ('83', '82', '8e', 'ef'). */
  type: string;
  /** GPT partition name. */
  name?: string;
  /** MBR: a logical partition, inside the extended partition the builder puts after the primaries. */
  logical?: boolean;
  /** A file whose bytes are written at the partition's start (dd conv=notrunc); must fit. */
  fsImage?: string;
}

export interface PartitionedImageOptions {
  scheme: 'gpt' | 'mbr';
  /** 512 (default) or 4096; 4096 is for GPT only. */
  sectorSize?: 512 | 4096;
  /** Disk size; by default the partitions plus room for tables and 1 MiB alignment. */
  diskSizeMiB?: number;
  partitions: PartitionSpec[];
}

/** One partition as `sfdisk --json` prints it (start and size in sectors). */
export interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
}

export interface SfdiskTable {
  label: 'gpt' | 'dos';
  sectorsize: number;
  partitions: SfdiskPartition[];
}

export interface PartitionedImage {
  path: string;
  sectorSize: number;
  /** The table as util-linux reads it. */
  table: SfdiskTable;
}

export async function makePartitionedImage(outFile: string, options: PartitionedImageOptions): Promise<PartitionedImage> {
  const sectorSize = options.sectorSize ?? 512;
  if (options.scheme === 'mbr' && sectorSize !== 512) throw new Error('MBR images are built with 512-byte sectors only');
  const logicals = options.partitions.filter((p) => p.logical).length;
  const sum = options.partitions.reduce((n, p) => n + p.sizeMiB, 0);
  const diskMiB = options.diskSizeMiB ?? sum + logicals + 2;
  await writeFile(outFile, '');
  await truncate(outFile, diskMiB * 1024 * 1024);

  let table: SfdiskTable;
  if (options.scheme === 'mbr') {
    await runWithInput('sfdisk', ['-q', outFile], sfdiskScript(options.partitions));
    table = await sfdiskJson(outFile);
  } else if (sectorSize === 512) {
    await run('sgdisk', [...sgdiskArgs(options.partitions), outFile]);
    table = await sfdiskJson(outFile);
  } else {
    table = await withLoopDevice(outFile, ['-b', String(sectorSize)], async (dev) => {
      await run('sgdisk', [...sgdiskArgs(options.partitions), dev]);
      return sfdiskJson(dev);
    });
  }

  for (const [i, spec] of options.partitions.entries()) {
    if (!spec.fsImage) continue;
    const part = partitionsInOrder(table)[i]!;
    const { size } = await stat(spec.fsImage);
    if (size > part.size * table.sectorsize) throw new Error(`${spec.fsImage} does not fit in partition ${partitionNumber(part)}`);
    await run('dd', [`if=${spec.fsImage}`, `of=${outFile}`, 'bs=1M', `seek=${part.start * table.sectorsize}`, 'oflag=seek_bytes', 'conv=notrunc', 'status=none']);
  }
  return { path: outFile, sectorSize, table };
}

/** The partitions other than extended containers, in the order the options listed them. */
export function partitionsInOrder(table: SfdiskTable): SfdiskPartition[] {
  return table.partitions.filter((p) => !isExtendedType(p.type)).sort((a, b) => partitionNumber(a) - partitionNumber(b));
}

export function isExtendedType(type: string): boolean {
  return ['5', 'f', '85'].includes(type.toLowerCase());
}

/** The partition number from a node name: "disk.img5" → 5, "/dev/loop3p2" → 2. */
export function partitionNumber(p: SfdiskPartition): number {
  const m = /(\d+)$/.exec(p.node);
  if (!m) throw new Error(`no partition number in ${p.node}`);
  return Number(m[1]);
}

export async function sfdiskJson(device: string): Promise<SfdiskTable> {
  const { stdout } = await run('sfdisk', ['--json', device]);
  const t = (JSON.parse(stdout) as { partitiontable: SfdiskTable }).partitiontable;
  return { ...t, sectorsize: t.sectorsize ?? 512, partitions: t.partitions ?? [] };
}

/** Attaches a loop device (`losetup -f --show`, plus extra flags such as -r or -b 4096), always detached afterwards. */
export async function withLoopDevice<T>(file: string, flags: string[], fn: (device: string) => Promise<T>): Promise<T> {
  const { stdout } = await run('losetup', [...flags, '-f', '--show', file]);
  const device = stdout.trim();
  try {
    return await fn(device);
  } finally {
    await run('losetup', ['-d', device]);
  }
}

/** Overwrites bytes of a file in place (to damage images on purpose). */
export async function patchFile(file: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

export async function readBytes(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** True when a command-line tool is installed (tests of optional formats skip without it). */
export async function hasTool(name: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${name}`]).then(() => true, () => false);
}

function sgdiskArgs(parts: PartitionSpec[]): string[] {
  const args = ['-o'];
  parts.forEach((p, i) => {
    const n = i + 1;
    args.push('-n', `${n}:0:+${p.sizeMiB}M`, '-t', `${n}:${p.type}`);
    if (p.name) args.push('-c', `${n}:${p.name}`);
  });
  return args;
}

function sfdiskScript(parts: PartitionSpec[]): string {
  const primaries = parts.filter((p) => !p.logical);
  const logicals = parts.filter((p) => p.logical);
  if (primaries.length + (logicals.length > 0 ? 1 : 0) > 4) throw new Error('an MBR holds four primary partitions, the extended one included');
  if (parts.some((p, i) => !p.logical && parts.slice(0, i).some((q) => q.logical))) throw new Error('list primaries before logicals');
  const lines = ['label: dos'];
  for (const p of primaries) lines.push(`size=${p.sizeMiB}MiB, type=${p.type}`);
  if (logicals.length > 0) lines.push('type=5');
  for (const p of logicals) lines.push(`size=${p.sizeMiB}MiB, type=${p.type}`);
  return lines.join('\n') + '\n';
}

/** execFile with text on stdin (promisified execFile cannot write to the child). */
function runWithInput(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, (err) => (err ? reject(err) : resolve()));
    child.stdin!.end(input);
  });
}
