/**
 * XFS v5 CRCs on the blocks minescan reads as metadata: a directory data block
 * ("XDD3", its CRC at +4) and a bmap btree block ("BMA3", its CRC at +64). The image is
 * made by mkfs.xfs and written through a loop mount (1 KiB blocks, a directory of 400
 * entries, a file of 1536 extents whose data fork is a btree); the blocks are found by
 * their magic and one byte is changed in a copy: the directory or file is a typed
 * `corrupt` error naming the block's structure and the CRC's byte offset, the rest reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MountfsError } from '../../mountfs/errors.js';
import { openTarget } from '../../mountfs/open-target.js';
import { writeFragmented } from '../helpers/ext4-image.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { xfsFromTreeByMount } from '../helpers/xfs-image.js';

const BS = 1024;
let scratch: string;
let bytes: Buffer;

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-xfs-crc-');
  const tree = path.join(scratch, 'tree');
  await mkdir(path.join(tree, 'big'), { recursive: true });
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc/hostname'), 'crc\n');
  for (let i = 0; i < 400; i++) await writeFile(path.join(tree, 'big', `entry-${i}-${'x'.repeat(20)}`), '');
  const image = path.join(scratch, 'xfs.img');
  await xfsFromTreeByMount(tree, image, ['-b', 'size=1024'], 128, (mnt) => writeFragmented(path.join(mnt, 'frag.bin'), 3));
  bytes = await readFile(image);
});
afterAll(async () => {
  await removeScratchDir(scratch);
});

/** The first block that starts with `magic`. */
function blockWithMagic(magic: string): number {
  const want = Buffer.from(magic, 'latin1');
  for (let at = 0; at < bytes.length; at += BS) if (bytes.subarray(at, at + 4).equals(want)) return at / BS;
  throw new Error(`no ${magic} block`);
}

async function read(patch: ((b: Buffer) => void) | undefined, use: (vfs: Awaited<ReturnType<typeof openTarget>>['filesystems'][number]['vfs']) => Promise<void>) {
  const copy = Buffer.from(bytes);
  patch?.(copy);
  const file = path.join(scratch, 'copy.img');
  await writeFile(file, copy);
  const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
  try {
    await use(opened.filesystems[0]!.vfs);
  } finally {
    await opened.close();
  }
}

const failure = (work: Promise<unknown>) =>
  work.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('XFS v5 block CRCs', () => {
  it('reads the untouched image: every CRC mkfs and the kernel wrote verifies', async () => {
    await read(undefined, async (vfs) => {
      expect((await vfs.readdir('/big')).length).toBe(400);
      const size = (await vfs.stat('/frag.bin')).size;
      let n = 0;
      for await (const chunk of vfs.createReadStream('/frag.bin')) n += (chunk as Buffer).length;
      expect(n).toBe(size);
    });
  });

  it('refuses a directory whose data block fails its CRC', async () => {
    const block = blockWithMagic('XDD3');
    await read((b) => (b[block * BS + 200] ^= 0x01), async (vfs) => {
      const err = await failure(vfs.readdir('/big'));
      expect(err).toBeInstanceOf(MountfsError);
      expect(err).toMatchObject({ kind: 'corrupt', structure: 'XFS directory block', offset: block * BS + 4, message: expect.stringMatching(/CRC 0x[0-9a-f]+ does not match/) });
      expect((await vfs.readFile('/etc/hostname')).toString()).toBe('crc\n');
    });
  });

  it('refuses a file whose bmap btree block fails its CRC', async () => {
    const block = blockWithMagic('BMA3');
    await read((b) => (b[block * BS + 100] ^= 0x01), async (vfs) => {
      // The whole file, so the read passes through whichever leaf the damaged block is.
      const err = await failure((async () => {
        for await (const chunk of vfs.createReadStream('/frag.bin')) void chunk;
      })());
      expect(err).toBeInstanceOf(MountfsError);
      expect(err).toMatchObject({ kind: 'corrupt', structure: expect.stringMatching(/^bmap btree block of XFS inode \d+$/), offset: block * BS + 64 });
      expect((await vfs.readdir('/big')).length).toBe(400);
    });
  });
});
