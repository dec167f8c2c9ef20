/**
 * A disk image inside a zip whose data is damaged is decompressed once: its spooling
 * fails with a typed error, and every later use of the member (another disk naming it,
 * the member itself as a candidate) gets that same error without reading the archive
 * again. The zip is written by Info-ZIP around an image made by mkfs.ext4 -d, and one
 * byte of the member's stored data is flipped, so its CRC-32 no longer matches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MountfsError } from '../../mountfs/errors.js';
import { ZipFileSystem } from '../../mountfs/fs/archive/zip-fs.js';
import { ZipMemberSpools, zipMemberSpoolStats } from '../../mountfs/fs/archive/zip-member-spools.js';
import { liveSpools, SpoolBudget } from '../../mountfs/sources/temp-spool.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);
const IMAGE_BYTES = 2 << 20;
let scratch: string;
let zipFile: string;

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-zip-spools-');
  const tree = path.join(scratch, 'tree');
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc/hostname'), 'member\n');
  const members = path.join(scratch, 'members');
  await mkdir(members);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, path.join(members, 'root.img'), '2M']);
  zipFile = path.join(scratch, 'damaged.zip');
  // Stored (-0): the member's bytes lie in the zip as they are, so one can be flipped.
  await run('bash', ['-c', `cd ${members} && zip -q -0 ${zipFile} root.img`]);
  const bytes = await readFile(zipFile);
  const dataStart = 30 + bytes.readUInt16LE(26) + bytes.readUInt16LE(28);
  // Past the head that tells the member is a disk: only the CRC at its end finds the damage.
  bytes[dataStart + IMAGE_BYTES - 100]! ^= 0xff;
  await writeFile(zipFile, bytes);
});
afterAll(async () => {
  await removeScratchDir(scratch);
});

describe('a zip member whose spooling failed', () => {
  it('is decompressed once; each later acquire gets the same typed error without reading the archive', async () => {
    const counter = { bytesRead: 0 };
    const zip = await ZipFileSystem.open(zipFile, counter);
    const spools = new ZipMemberSpools(zip, (name) => `zip:${name}`, await SpoolBudget.create({ dir: scratch, budget: 64 << 20 }));
    const started = zipMemberSpoolStats.started;
    try {
      const first = await spools.acquire('root.img').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(first).toBeInstanceOf(MountfsError);
      expect(first).toMatchObject({ kind: 'corrupt', structure: 'zip entry', offset: 0, message: expect.stringMatching(/root\.img: CRC-32 does not match/) });
      const readOnce = counter.bytesRead;
      expect(readOnce).toBeGreaterThanOrEqual(IMAGE_BYTES);
      for (let i = 0; i < 3; i++) await expect(spools.acquire('root.img')).rejects.toBe(first);
      await spools.release('root.img');
      await expect(spools.acquire('root.img')).rejects.toBe(first);
      expect(counter.bytesRead).toBe(readOnce);
      expect(zipMemberSpoolStats.started - started).toBe(1);
      expect(liveSpools()).toEqual([]);
    } finally {
      await spools.releaseAll();
      await zip.close();
    }
  });
});
