/**
 * With metadata_csum, the blocks an inode owns are verified before they are used: an
 * extent tree block (ext4_extent_tail), a directory leaf block (ext4_dir_entry_tail) and
 * an htree root (dx_tail). The image is made by mkfs.ext4 -O metadata_csum -d (1 KiB
 * blocks; e2fsck -D turns the large directory into an htree), the blocks are found with
 * debugfs (`stat`, `blocks`, `htree`), and one byte is changed in a copy: the file or
 * directory is a typed `corrupt` error naming the structure and the byte offset, the
 * rest reads, and a scan is incomplete (exit 3). An infected crontab whose directory
 * entry was zeroed (so a reader that trusts the block sees no crontab) never gives a
 * clean exit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MountfsError } from '../../mountfs/errors.js';
import { openTarget } from '../../mountfs/open-target.js';
import { debugfs, makeExt4Image, makeScratch, removeScratch, writeFragmented } from '../helpers/ext4-image.js';
import { cli } from '../helpers/run-cli.js';

const BS = 1024;
const CRONTAB = '* * * * * root /tmp/.x/xmrig -o pool.supportxmr.com:3333 -u 4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge\n';

let scratch: string;
let image: string;
let bytes: Buffer;

beforeAll(async () => {
  scratch = await makeScratch('minescan-ext4-blocks-');
  const tree = path.join(scratch, 'tree');
  await mkdir(path.join(tree, 'var/spool/cron/crontabs'), { recursive: true });
  await mkdir(path.join(tree, 'big'), { recursive: true });
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc/hostname'), 'checksummed\n');
  await writeFile(path.join(tree, 'var/spool/cron/crontabs/root'), CRONTAB);
  for (let i = 0; i < 300; i++) await writeFile(path.join(tree, 'big', `entry-${i}-${'x'.repeat(20)}`), '');
  // 1536 extents: a tree of depth 2, so an index block and leaf blocks.
  await writeFragmented(path.join(tree, 'frag.bin'), 7);
  image = await makeExt4Image(tree, path.join(scratch, 'csum.img'), { sizeMiB: 64, blockSize: BS, features: 'metadata_csum', htree: true });
  bytes = await readFile(image);
});
afterAll(async () => {
  await removeScratch(scratch);
});

/** A copy of the image with `patch` applied. */
async function patched(name: string, patch: (b: Buffer) => void): Promise<string> {
  const copy = Buffer.from(bytes);
  patch(copy);
  const file = path.join(scratch, name);
  await writeFile(file, copy);
  return file;
}

/** What `work` throws, which must be a MountfsError. */
async function typedError(work: Promise<unknown>): Promise<MountfsError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MountfsError);
  return err as MountfsError;
}

async function withVfs<T>(file: string, use: (vfs: Awaited<ReturnType<typeof openTarget>>['filesystems'][number]['vfs']) => Promise<T>): Promise<T> {
  const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
  try {
    return await use(opened.filesystems[0]!.vfs);
  } finally {
    await opened.close();
  }
}

/** Blocks of a directory in logical order. */
async function dirBlocks(dir: string): Promise<number[]> {
  return (await debugfs(image, `blocks ${dir}`)).trim().split(/\s+/).map(Number);
}

describe('ext4 metadata_csum beyond inodes', () => {
  it('reads the untouched image whole: every checksum mkfs and e2fsck wrote verifies', async () => {
    expect(await debugfs(image, 'htree /big')).toMatch(/Root node dump/);
    await withVfs(image, async (vfs) => {
      expect((await vfs.readdir('/big')).length).toBe(300);
      const frag = await vfs.stat('/frag.bin');
      let read = 0;
      for await (const chunk of vfs.createReadStream('/frag.bin')) read += (chunk as Buffer).length;
      expect(read).toBe(frag.size);
      expect((await vfs.readFile('/var/spool/cron/crontabs/root')).toString()).toBe(CRONTAB);
    });
  });

  it('refuses a file whose extent tree block fails its checksum, and reads the rest', async () => {
    const stat = await debugfs(image, 'stat /frag.bin');
    const leaf = Number(/\(ETB1\):(\d+)/.exec(stat)![1]);
    // A byte of the leaf's first extent (its start block): a forged mapping, were it read.
    const file = await patched('extent.img', (b) => (b[leaf * BS + 12 + 8] ^= 0x01));
    await withVfs(file, async (vfs) => {
      const err = await typedError(vfs.readFile('/frag.bin', { maxBytes: 64 << 10 }));
      expect(err).toMatchObject({ kind: 'corrupt', structure: 'ext4 extent tree block', message: expect.stringMatching(/checksum 0x[0-9a-f]+ does not match/) });
      // The tail follows eh_max entries of 12 bytes after the 12-byte header.
      expect(err.offset).toBe(leaf * BS + 12 + b16(leaf * BS + 4) * 12);
      expect((await vfs.readFile('/etc/hostname')).toString()).toBe('checksummed\n');
    });
  });

  it('refuses a directory whose leaf block fails its checksum', async () => {
    const blocks = await dirBlocks('/big');
    const leaf = blocks[1]!;
    const file = await patched('leaf.img', (b) => (b[leaf * BS + 40] ^= 0x20));
    await withVfs(file, async (vfs) => {
      const err = await typedError(vfs.readdir('/big'));
      expect(err).toMatchObject({ kind: 'corrupt', structure: 'ext4 directory block', offset: leaf * BS + BS - 4 });
      expect(err.message).toMatch(/directory block 1: checksum 0x[0-9a-f]+ does not match/);
    });
  });

  it('refuses a directory whose htree root fails its dx_tail checksum', async () => {
    const root = (await dirBlocks('/big'))[0]!;
    // A hash in the root's index, which a linear reader skips: only the checksum sees it.
    const file = await patched('dx.img', (b) => (b[root * BS + 32 + 8] ^= 0x01));
    await withVfs(file, async (vfs) => {
      const err = await typedError(vfs.readdir('/big'));
      expect(err).toMatchObject({ kind: 'corrupt', structure: 'ext4 htree node' });
      expect(err.message).toMatch(/directory block 0: checksum 0x[0-9a-f]+ does not match/);
      const limit = b16(root * BS + 32);
      expect(err.offset).toBe(root * BS + 32 + limit * 8 + 4);
    });
  });

  it('never gives a clean exit for an infected crontab whose directory entry was zeroed in a block that fails its checksum', async () => {
    const [block] = await dirBlocks('/var/spool/cron/crontabs');
    const at = bytes.subarray(block! * BS, (block! + 1) * BS).indexOf(Buffer.from('root')) - 8;
    expect(bytes.readUInt32LE(block! * BS + at)).toBeGreaterThan(0);
    // The entry's inode number zeroed: a reader trusting the block sees an empty crontabs directory.
    const file = await patched('crontab.img', (b) => b.writeUInt32LE(0, block! * BS + at));
    const clean = await cli(['scan', image, '--format', 'json', '--no-bundled-hashes']);
    expect(clean.code).toBe(1);
    const res = await cli(['scan', file, '--format', 'json', '--no-bundled-hashes']);
    expect(res.code).toBe(3);
    const report = JSON.parse(res.stdout) as { status: string; errors: Array<{ path?: string; kind?: string; structure?: string; offset?: number; message: string }> };
    expect(report.status).toBe('incomplete');
    expect(report.errors).toContainEqual(
      expect.objectContaining({ kind: 'corrupt', structure: 'ext4 directory block', offset: block! * BS + BS - 4 }),
    );
  });
});

const b16 = (at: number) => bytes.readUInt16LE(at);
