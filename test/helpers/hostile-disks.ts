/**
 * Generators of hostile disks at the byte-source level, made with the real tools
 * wherever they can write them (qemu-img, tar, zip, gzip, zstd, mkfifo, mknod): VMDK
 * descriptors and qcow2 overlays that name files on the scanning host,
 * compressed streams that inflate far beyond their size, zips whose central directory
 * is damaged and zips of many disk members.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const sh = (cmd: string, cwd?: string) => run('bash', ['-c', cmd], { cwd, maxBuffer: 64 << 20 });

/** A clean 8 MiB ext4 image (no partition table) with a few ordinary files: what a hostile disk would like to be scanned as. */
export async function cleanExt4(dir: string, name = 'clean.img'): Promise<string> {
  const tree = path.join(dir, `${name}.tree`);
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc/hostname'), 'clean-host\n');
  await writeFile(path.join(tree, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  const file = path.join(dir, name);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, file, '8M']);
  await rm(tree, { recursive: true, force: true });
  return file;
}

/**
 * A monolithicFlat VMDK descriptor made by qemu-img, whose one FLAT extent is renamed
 * to `extentName` (8 MiB): a name the disk chooses, looked up wherever the reader
 * resolves names. qemu-img's own flat file is removed.
 */
export async function flatDescriptor(file: string, extentName: string): Promise<string> {
  await run('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', file, '8M']);
  const own = file.replace(/\.vmdk$/, '-flat.vmdk');
  await rm(own, { force: true });
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(/FLAT "[^"]*"/, `FLAT "${extentName}"`));
  return file;
}

/** A qcow2 overlay made by qemu-img naming `backing` (raw), which need not exist (-u). */
export async function qcow2Overlay(file: string, backing: string): Promise<string> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-b', backing, '-F', 'raw', file, '8M']);
  return file;
}

/** Damages the central directory of a zip made by Info-ZIP: its end record's offset of it points past the file. */
export async function damageCentralDirectory(file: string): Promise<void> {
  const bytes = await readFile(file);
  const end = bytes.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
  if (end < 0) throw new Error(`${file}: no end of central directory record`);
  bytes.writeUInt32LE(0x7fffff00, end + 16);
  await writeFile(file, bytes);
}

/**
 * `count` 2 MiB GPT disks made by sgdisk with no partition, their middle random so
 * that a spool of one costs 1.75 MiB: disk members of a zip that hold nothing to scan.
 */
export async function emptyGptDisks(dir: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const disk = path.join(dir, `disk${i}.img`);
    await run('truncate', ['-s', '2M', disk]);
    await run('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=64K', 'seek=1', 'count=28', 'conv=notrunc', 'status=none']);
    await run('sgdisk', ['-o', disk]);
  }
}
