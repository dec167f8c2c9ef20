/**
 * File identity in VFS stats (Stat.id): hard links to one file have one id, any other
 * file another, and the same inode number on two volumes of one disk gives two ids.
 * Checked on a host directory, an ext4 image made by mkfs.ext4 -d (which keeps the
 * tree's hard links), the same filesystem twice on a GPT disk made by sfdisk, and a
 * tar archive's hard link entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { link, mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { openImage } from '../../mountfs/open-image.js';
import { RawVfs, type Vfs } from '../../mountfs/vfs.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { nowhere } from '../../mountfs/sources/named-files.js';
import { SpoolBudget } from '../../mountfs/sources/temp-spool.js';
import { makeExt4Image, makeScratch, removeScratch } from '../helpers/ext4-image.js';

const run = promisify(execFile);
let scratch: string;
let tree: string;

beforeAll(async () => {
  scratch = await makeScratch('minescan-identity-');
  tree = path.join(scratch, 'tree');
  await mkdir(path.join(tree, 'etc/cron.d'), { recursive: true });
  await mkdir(path.join(tree, 'var/spool/cron'), { recursive: true });
  await writeFile(path.join(tree, 'etc/cron.d/job'), '* * * * * root /tmp/x\n');
  await link(path.join(tree, 'etc/cron.d/job'), path.join(tree, 'var/spool/cron/root'));
  await writeFile(path.join(tree, 'etc/cron.d/other'), '* * * * * root /tmp/x\n'); // same bytes, another file
  await symlink('/etc/cron.d/job', path.join(tree, 'etc/job-link'));
});
afterAll(async () => {
  await removeScratch(scratch);
});

/** The identities a check would see for the planted names. */
async function ids(vfs: Vfs) {
  return {
    job: (await vfs.lstat('/etc/cron.d/job')).id,
    linked: (await vfs.lstat('/var/spool/cron/root')).id,
    other: (await vfs.lstat('/etc/cron.d/other')).id,
    symlink: (await vfs.lstat('/etc/job-link')).id,
    followed: (await vfs.stat('/etc/job-link')).id,
  };
}

function expectHardLinkIdentity(got: Awaited<ReturnType<typeof ids>>) {
  expect(got.linked).toBe(got.job);
  expect(got.followed).toBe(got.job);
  expect(new Set([got.job, got.other, got.symlink]).size).toBe(3);
}

async function openFile(image: string) {
  const source = await FileByteSource.open(image);
  const parts = await openImage(source, { retain: ['/**'], files: nowhere('in a test image'), counter: { bytesRead: 0 }, spool: await SpoolBudget.create({ budget: 1 << 30 }) });
  return {
    parts,
    close: async () => {
      await parts.close();
      await source.close();
    },
  };
}

describe('Stat.id', () => {
  it('is one for hard links and differs for other files on a host directory', async () => {
    const vfs = new RawVfs(await DirectoryFileSystem.open(tree));
    expectHardLinkIdentity(await ids(vfs));
    // The walk gives the same ids as lstat, so a check can dedupe what it walks.
    const walked = new Map<string, string>();
    for await (const e of vfs.walk(['/**'])) walked.set(e.path, e.stat.id);
    expect(walked.get('/var/spool/cron/root')).toBe(walked.get('/etc/cron.d/job'));
  });

  it('is one for hard links in an ext4 image, and differs between two volumes holding the same filesystem', async () => {
    const fsImage = await makeExt4Image(tree, path.join(scratch, 'fs.img'), { sizeMiB: 8, blockSize: 1024 });
    const single = await openFile(fsImage);
    try {
      const vfs = single.parts.filesystems[0]!.vfs;
      expect(Number((await vfs.lstat('/etc/cron.d/job')).nlink)).toBe(2);
      expectHardLinkIdentity(await ids(vfs));
    } finally {
      await single.close();
    }

    // Two partitions, each a copy of the same filesystem: the same inode numbers.
    const disk = path.join(scratch, 'two.img');
    await run('truncate', ['-s', '20M', disk]);
    await run('sh', ['-c', `printf 'label: gpt\\nstart=2048, size=16384\\nstart=20480, size=16384\\n' | sfdisk -q ${disk}`]);
    const fsBytes = await readFile(fsImage);
    const fh = await open(disk, 'r+');
    await fh.write(fsBytes, 0, fsBytes.length, 2048 * 512);
    await fh.write(fsBytes, 0, fsBytes.length, 20480 * 512);
    await fh.close();
    const both = await openFile(disk);
    try {
      expect(both.parts.filesystems.map((f) => f.volumeIndex)).toEqual([0, 1]);
      const [a, b] = both.parts.filesystems.map((f) => f.vfs);
      const [sa, sb] = [await a!.lstat('/etc/cron.d/job'), await b!.lstat('/etc/cron.d/job')];
      expect(sa.ino).toBe(sb.ino);
      expect(sa.id).not.toBe(sb.id);
      expectHardLinkIdentity(await ids(b!));
    } finally {
      await both.close();
    }
  });

  it('is one for a tar hard link entry and the file it names', async () => {
    const tar = path.join(scratch, 'tree.tar');
    await run('tar', ['-C', tree, '-cf', tar, '.']);
    expect((await run('tar', ['-tvf', tar])).stdout).toMatch(/link to/);
    const opened = await openFile(tar);
    try {
      expectHardLinkIdentity(await ids(opened.parts.filesystems[0]!.vfs));
    } finally {
      await opened.close();
    }
  });
});
