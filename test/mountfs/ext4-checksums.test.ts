/**
 * ext4 metadata checksums against images made by mkfs.ext4 and edited by debugfs (both
 * write the checksums e2fsprogs computes): every superblock, descriptor and inode of a
 * pristine image verifies in each checksum layout; then single bytes are changed at
 * exact offsets, and each mismatch is a typed error for what the structure covers (the
 * filesystem, one group's inodes, one inode) while the rest reads on, a damaged primary
 * superblock is replaced by its backup with an error the target keeps, and with no
 * valid backup the filesystem is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Ext4FileSystem } from '../../mountfs/fs/ext4/ext4-fs.js';
import { GroupDescriptors } from '../../mountfs/fs/ext4/group-descriptors.js';
import { BlockReader } from '../../mountfs/fs/ext4/block-cache.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { openTarget } from '../../mountfs/open-target.js';
import { BufferSource } from '../helpers/buffer-source.js';
import { debugfs, inodeOffset, makeExt4Image, makeScratch, removeScratch, type Ext4ImageOptions } from '../helpers/ext4-image.js';

const run = promisify(execFile);
let scratch: string;
let tree: string;
/** More files than one group of a 64-inode, 3-group filesystem holds, so later ones live in groups 1 and 2. */
const FILES = 40;

beforeAll(async () => {
  scratch = await makeScratch('minescan-ext4csum-');
  tree = path.join(scratch, 'tree');
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  for (let i = 0; i < FILES; i++) await writeFile(path.join(tree, 'etc', `f${i}`), `file ${i}\n`);
});
afterAll(async () => {
  await removeScratch(scratch);
});

/** 20 MiB of 1 KiB blocks: three groups, a backup superblock in group 1. */
const SMALL: Ext4ImageOptions = { sizeMiB: 20, blockSize: 1024, inodes: 64 };

async function dumpe2fs(image: string): Promise<string> {
  return (await run('dumpe2fs', [image], { maxBuffer: 16 << 20 })).stdout;
}
const field = (dump: string, name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(dump)![1]);

interface Walked {
  paths: Map<string, number>;
  errors: Array<{ path: string; err: unknown }>;
  contents: Map<string, string>;
}

async function walk(bytes: Buffer): Promise<{ fs: Ext4FileSystem } & Walked> {
  const fs = await Ext4FileSystem.open(new BufferSource(bytes));
  const vfs = new RawVfs(fs);
  const out: Walked = { paths: new Map(), errors: [], contents: new Map() };
  for await (const e of vfs.walk(['/**'], { onError: (p, err) => out.errors.push({ path: p, err }) })) {
    out.paths.set(e.path, e.stat.ino);
    if (e.stat.type === 'file') out.contents.set(e.path, (await vfs.readFile(e.path)).toString());
  }
  return { fs, ...out };
}

const typed = (err: unknown): MountfsError => {
  expect(err).toBeInstanceOf(MountfsError);
  return err as MountfsError;
};

describe('pristine images verify', () => {
  it.each([
    ['metadata_csum, 1 KiB blocks, 256-byte inodes (32-bit checksums)', SMALL],
    ['metadata_csum, 128-byte inodes (16-bit checksums)', { ...SMALL, inodeSize: 128 }],
    ['metadata_csum_seed (a stored seed, the UUID changed after mkfs)', { ...SMALL, features: 'metadata_csum_seed' }],
    ['gdt_csum without metadata_csum (CRC-16 descriptors)', { ...SMALL, features: '^metadata_csum,uninit_bg' }],
    ['32-bit descriptors', { ...SMALL, features: '^64bit' }],
  ] as Array<[string, Ext4ImageOptions]>)('%s', async (name, options) => {
    const image = await makeExt4Image(tree, path.join(scratch, `${name.replace(/\W+/g, '_')}.img`), options);
    if (options.features === 'metadata_csum_seed') await run('tune2fs', ['-U', 'random', image]);
    const dump = await dumpe2fs(image);
    expect(dump).toMatch(options.features?.startsWith('^metadata_csum') ? /uninit_bg/ : /Checksum type:\s+crc32c/);
    const { fs, paths, errors, contents } = await walk(await readFile(image));
    expect(errors).toEqual([]);
    expect(fs.unreadable()).toEqual([]);
    expect(contents.get('/etc/f39')).toBe('file 39\n');
    expect(paths.size).toBeGreaterThan(FILES);
    // Every descriptor, used or not, and every inode mkfs wrote.
    const source = new BufferSource(await readFile(image));
    const groups = new GroupDescriptors(fs.superblock, new BlockReader(source, fs.superblock.blockSize, fs.superblock.blocksCount));
    for (let g = 0; g < fs.superblock.groupCount; g++) await groups.get(g);
  });

  it('verifies inodes debugfs rewrote (it recomputes their checksums)', async () => {
    const image = await makeExt4Image(tree, path.join(scratch, 'debugfs.img'), SMALL);
    await debugfs(image, 'set_inode_field /etc/f3 mtime 20300101000000', true);
    await debugfs(image, 'set_inode_field /etc/f35 uid 4242', true);
    const { errors } = await walk(await readFile(image));
    expect(errors).toEqual([]);
  });
});

describe('a mismatch at an exact offset', () => {
  let image: string;
  let bytes: Buffer;
  let dump: string;
  const patched = (...edits: Array<[offset: number, xor: number]>): Buffer => {
    const copy = Buffer.from(bytes);
    for (const [at, xor] of edits) copy[at] ^= xor;
    return copy;
  };

  beforeAll(async () => {
    image = await makeExt4Image(tree, path.join(scratch, 'damaged.img'), SMALL);
    bytes = await readFile(image);
    dump = await dumpe2fs(image);
  });

  /** s_volume_name (0x78): nothing the reader uses, so only the checksum can tell. */
  const VOLUME_NAME = 0x78;

  it('reads through the backup superblock when the primary fails its checksum, and keeps the error', async () => {
    const backupBlock = Number(/Backup superblock at (\d+)/.exec(dump)![1]);
    expect(backupBlock).toBe(8193);
    const { fs, errors, contents } = await walk(patched([1024 + VOLUME_NAME, 0x41]));
    expect(errors).toEqual([]);
    expect(contents.get('/etc/f0')).toBe('file 0\n');
    const [damage, ...rest] = fs.unreadable();
    expect(rest).toEqual([]);
    expect(damage).toMatchObject({ kind: 'corrupt', structure: 'ext4 superblock', offset: 1024 });
    expect(damage!.message).toMatch(new RegExp(`s_checksum .* does not match .*backup copy of group 1 at offset ${backupBlock * 1024}`));
  });

  it('refuses the filesystem when no backup holds either, naming the primary superblock', async () => {
    const err = typed(await Ext4FileSystem.open(new BufferSource(patched([1024 + VOLUME_NAME, 1], [8193 * 1024 + VOLUME_NAME, 1]))).catch((e: unknown) => e));
    expect(err).toMatchObject({ kind: 'corrupt', structure: 'ext4 superblock', offset: 1024 });
    expect(err.message).toMatch(/s_checksum .* no backup copy has a valid checksum either \(tried offsets 8389632/);
  });

  it('says so when a one-group filesystem has no backup to fall back on', async () => {
    const one = await readFile(await makeExt4Image(tree, path.join(scratch, 'one-group.img'), { sizeMiB: 8, blockSize: 4096 }));
    one[1024 + VOLUME_NAME] ^= 1;
    const err = typed(await Ext4FileSystem.open(new BufferSource(one)).catch((e: unknown) => e));
    expect(err).toMatchObject({ kind: 'corrupt', structure: 'ext4 superblock', offset: 1024 });
    expect(err.message).toMatch(/too small to hold a backup copy/);
  });

  it('makes the opened target incomplete: the superblock error is one of its failures', async () => {
    const backupUsed = path.join(scratch, 'primary-damaged.img');
    await writeFile(backupUsed, patched([1024 + VOLUME_NAME, 0x41]));
    const target = await openTarget(backupUsed, { bytesRead: 0 });
    try {
      expect(target.filesystems.length).toBe(1);
      expect(target.failures.map((f) => f.error)).toEqual([expect.objectContaining({ structure: 'ext4 superblock', offset: 1024 })]);
    } finally {
      await target.close();
    }
    const noBackup = path.join(scratch, 'both-damaged.img');
    await writeFile(noBackup, patched([1024 + VOLUME_NAME, 1], [8193 * 1024 + VOLUME_NAME, 1]));
    // Nothing of the filesystem is read, and the target says why (the volume listed as not scanned).
    const refused = await openTarget(noBackup, { bytesRead: 0 });
    try {
      expect(refused.filesystems).toEqual([]);
      expect(refused.failures.map((f) => f.error)).toEqual([expect.objectContaining({ structure: 'ext4 superblock', offset: 1024 })]);
    } finally {
      await refused.close();
    }
  });

  it('refuses the inodes of a group whose descriptor fails its checksum, and reads the other groups', async () => {
    const table = Number(/Primary superblock at 1, Group descriptors at (\d+)-/.exec(dump)![1]);
    const descSize = field(dump, 'Group descriptor size');
    const perGroup = field(dump, 'Inodes per group');
    const descriptor1 = table * 1024 + descSize; // group 1's descriptor
    // bg_free_inodes_count_lo (+0x0e): the reader never uses it, so only the checksum can tell.
    const pristine = await walk(bytes);
    const inGroup1 = [...pristine.paths].filter(([, ino]) => Math.floor((ino - 1) / perGroup) === 1).map(([p]) => p);
    expect(inGroup1.length).toBeGreaterThan(0);

    const { errors, contents } = await walk(patched([descriptor1 + 0x0e, 0x10]));
    expect(errors.map((e) => e.path).sort()).toEqual(inGroup1.sort());
    for (const { err } of errors) {
      expect(typed(err)).toMatchObject({ kind: 'corrupt', structure: 'ext4 group descriptor', offset: descriptor1 });
      expect(typed(err).message).toMatch(/group 1: bg_checksum .* does not match/);
    }
    // Everything outside group 1 reads as before.
    const outside = [...pristine.contents].filter(([p]) => !inGroup1.includes(p));
    expect(outside.length).toBeGreaterThan(5);
    for (const [p, text] of outside) expect(contents.get(p)).toBe(text);
  });

  it('refuses one inode that fails its checksum and reads every other file', async () => {
    const at = await inodeOffset(image, '/etc/f7', 1024);
    // i_mtime (+0x10): a timestamp edited by hand, the way timestomping tools do it.
    const { errors, contents } = await walk(patched([at + 0x10, 0x01]));
    expect(errors.map((e) => e.path)).toEqual(['/etc/f7']);
    const err = typed(errors[0]!.err);
    expect(err).toMatchObject({ kind: 'corrupt', structure: 'ext4 inode', offset: at });
    expect(err.message).toMatch(/inode \d+: checksum 0x[0-9a-f]+ does not match/);
    expect(contents.has('/etc/f7')).toBe(false);
    expect(contents.get('/etc/f8')).toBe('file 8\n');
    expect(contents.size).toBe(FILES - 1);
  });

  it('checks the high checksum half too: a change past the first 128 bytes is caught', async () => {
    const at = await inodeOffset(image, '/etc/f9', 1024);
    // i_crtime (+0x90), inside the extra part only the 32-bit checksum covers.
    const { errors } = await walk(patched([at + 0x90, 0x01]));
    expect(errors.map((e) => e.path)).toEqual(['/etc/f9']);
    expect(typed(errors[0]!.err)).toMatchObject({ structure: 'ext4 inode', offset: at });
  });
});
