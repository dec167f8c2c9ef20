/**
 * The raw disk every container test converts (qemu-img) and compares against: 64 MiB,
 * GPT, partition 1 (1 MiB..41 MiB) holding ext4 made by mkfs.ext4 -d from a random
 * tree, 300 KB of random bytes at 48 MiB, a page of text at 60 MiB + 1000, and holes
 * everywhere else.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeRandomTree } from './random-tree.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';

const run = promisify(execFile);

export const DISK_BYTES = 64 << 20;
export const PARTITION_START = 1 << 20;
export const PARTITION_BYTES = 40 << 20;

export interface RawDisk {
  raw: string;
  tree: string;
}

export async function buildRawDisk(dir: string, seed: number): Promise<RawDisk> {
  const tree = path.join(dir, `tree${seed}`);
  await writeRandomTree(tree, seed, { files: 30, bigDirEntries: 150, maxFileBytes: 100_000 });
  const fs = path.join(dir, `fs${seed}.img`);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, fs, `${PARTITION_BYTES >> 20}M`]);
  const raw = path.join(dir, `disk${seed}.raw`);
  await run('truncate', ['-s', String(DISK_BYTES), raw]);
  await run('sgdisk', ['-n', `1:${PARTITION_START / 512}:+${PARTITION_BYTES >> 20}M`, '-t', '1:8300', raw]);
  await run('dd', [`if=${fs}`, `of=${raw}`, 'bs=1M', `seek=${PARTITION_START >> 20}`, 'conv=notrunc,sparse', 'status=none']);
  const fh = await open(raw, 'r+');
  try {
    await fh.write(randomBytes(300_000), 0, 300_000, 48 << 20);
    const page = Buffer.from('minescan container test page\n'.repeat(150));
    await fh.write(page, 0, page.length, (60 << 20) + 1000);
  } finally {
    await fh.close();
  }
  return { raw, tree };
}

/**
 * Opens image files read-only for a test file and remembers them, so one afterAll
 * closes every source the tests opened, failed tests included.
 */
export function fileSources(): { open(file: string): Promise<FileByteSource>; closeAll(): Promise<void> } {
  const opened: FileByteSource[] = [];
  return {
    async open(file) {
      const s = await FileByteSource.open(file);
      opened.push(s);
      return s;
    },
    async closeAll() {
      for (const s of opened.splice(0)) await s.close().catch(() => undefined);
    },
  };
}
