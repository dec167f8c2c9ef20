/**
 * Real NTFS volumes from ../shared/windows-samples/ntfs (Windows 10 volumes with 2 KiB,
 * 4 KiB and 2 MiB clusters, a Windows-compressed file, a file with 100 hard links and a
 * non-resident attribute list, a 512-subdirectory B+tree; see its README.md and
 * SOURCES.md), decompressed into a scratch directory: minescan lists what The Sleuth
 * Kit's fls lists (every allocated name with its MFT record, every named data stream),
 * and reads the contents the samples' sources give. Under CI=true a missing samples
 * folder fails; elsewhere these tests are skipped with a message saying why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NtfsFileSystem } from '../../mountfs/fs/ntfs/ntfs-fs.js';
import { RawVfs, type Vfs } from '../../mountfs/vfs.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { SliceByteSource } from '../../mountfs/sources/slice-source.js';
import { makeScratchDir, removeScratchDir, REPO } from '../helpers/images.js';
import { flsListing } from './ntfs-volume.js';

const run = promisify(execFile);
const SAMPLES = path.resolve(REPO, '../shared/windows-samples/ntfs');
const available = existsSync(SAMPLES);
const MBR_SECTOR = 128;

/** Each sample: its file, the sector its NTFS volume starts at, and what its sources say it holds. */
const CASES: { file: string; sector: number; fls: boolean; clusterSize: number; contents: Record<string, string> }[] = [
  {
    file: 'testfs1',
    sector: 0,
    fls: true,
    clusterSize: 512,
    contents: {
      '/sparse-file': 'e044906d742cb7611c72106cc5efc09955a4acf71af581a8b795af8823e7ec3b',
      '/1000-bytes-file': 'e987ddba8f237d56608b83db03b7e80e2ffdf2970cd4498910c8d20dc4d59bb1',
      '/file-with-12345': createHash('sha256').update('12345').digest('hex'),
    },
  },
  { file: 'ntfs3_attrlist.raw', sector: 0, fls: true, clusterSize: 4096, contents: { '/1.txt': '181210f8f9c779c26da1d9b2075bde0127302ee0e3fca38c9a83f5b1dd8e5d3b', '/100.txt': '181210f8f9c779c26da1d9b2075bde0127302ee0e3fca38c9a83f5b1dd8e5d3b' } },
  { file: 'ntfs_index.raw', sector: MBR_SECTOR, fls: true, clusterSize: 2048, contents: {} },
  { file: 'ntfs-lastaccess.raw', sector: MBR_SECTOR, fls: true, clusterSize: 4096, contents: { '/test/1.txt': '878d3b625bc8a4669f236c6615495c3c9c3c01180d1e08b0a68fe0c9e7ca1b23' } },
  { file: 'ntfs-ramslack.raw', sector: MBR_SECTOR, fls: true, clusterSize: 4096, contents: { '/1.txt': 'a6e4b525ada8e4c002828819ee5ef9130feb4082a17d7ee699ca0d7711aad670' } },
  { file: 'ntfs-ptrn.raw', sector: MBR_SECTOR, fls: true, clusterSize: 4096, contents: { '/2.txt': '44a78c795830a32b2652a2f0159e9d4e27981ea3767b9239b28e5856a8386f82' } },
  // The Sleuth Kit cannot open 2 MiB clusters; the listing is checked by its shape.
  { file: 'ntfs-2m.raw', sector: MBR_SECTOR, fls: false, clusterSize: 2 << 20, contents: {} },
];

let dir: string;

async function openSample(file: string, sector: number) {
  const source = await FileByteSource.open(path.join(dir, file));
  const volume = sector ? new SliceByteSource(source, sector * 512, source.size - sector * 512, `${file} at sector ${sector}`) : source;
  const fs = await NtfsFileSystem.open(volume);
  return { fs, vfs: new RawVfs(fs), close: () => source.close() };
}

async function sha256(vfs: Vfs, p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of vfs.createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

if (!available && process.env.CI === 'true') {
  it('has the shared Windows samples', () => {
    throw new Error(`${SAMPLES} is missing: CI must provide ../shared/windows-samples beside the repository`);
  });
} else if (!available) {
  console.warn(`NTFS sample tests skipped: ${SAMPLES} is missing (../shared/windows-samples beside the repository; CI=true makes this a failure)`);
}

describe.skipIf(!available)('NTFS volumes written by Windows and other tools', () => {
  beforeAll(async () => {
    dir = await makeScratchDir('minescan-ntfs-samples-');
    for (const c of CASES) await run('sh', ['-c', 'xz -dc "$1" > "$2"', 'sh', path.join(SAMPLES, `${c.file}.xz`), path.join(dir, c.file)]);
  });

  afterAll(async () => {
    if (dir) await removeScratchDir(dir);
  });

  it.each(CASES)('$file: lists what fls lists and reads the contents its sources give', async (c) => {
    const { fs, vfs, close } = await openSample(c.file, c.sector);
    try {
      expect(fs.geometry.clusterSize).toBe(c.clusterSize);
      const errors: string[] = [];
      const ours = new Map<string, number>();
      for await (const e of vfs.walk(['/**'], { onError: (p, err) => errors.push(`${p}: ${String(err)}`) })) ours.set(e.path, e.stat.ino);
      expect(errors).toEqual([]);
      if (c.fls) {
        const fls = await flsListing(path.join(dir, c.file), c.sector);
        expect([...ours.entries()].sort()).toEqual([...fls.entries.entries()].sort());
        for (const [p, names] of fls.streams) expect((await vfs.streams!(p)).map((s) => s.name).sort(), p).toEqual(names);
      } else {
        for (const p of ['/$MFT', '/$UpCase', '/$Extend', '/System Volume Information']) expect(ours.has(p), p).toBe(true);
      }
      for (const [p, digest] of Object.entries(c.contents)) expect(await sha256(vfs, p), p).toBe(digest);
    } finally {
      await close();
    }
  });

  it('reads the 100 hard links of one file as one identity through its non-resident attribute list', async () => {
    const { vfs, close } = await openSample('ntfs3_attrlist.raw', 0);
    try {
      const ids = new Set<string>();
      for (let i = 1; i <= 100; i++) ids.add((await vfs.stat(`/${i}.txt`)).id);
      expect(ids.size).toBe(1);
      expect((await vfs.stat('/1.txt')).nlink).toBe(100);
    } finally {
      await close();
    }
  });

  it('reads the Windows version a Windows-compressed volume records, and the compressed file', async () => {
    const { vfs, close } = await openSample('ntfs-ramslack.raw', MBR_SECTOR);
    try {
      expect((await vfs.readFile('/os_version.txt')).toString('latin1')).toContain('Microsoft Windows [Version 10.0.14393]');
      const st = await vfs.stat('/1.txt');
      expect(st.size).toBe(6460);
      expect(st.dosAttributes! & 0x800).toBe(0x800);
    } finally {
      await close();
    }
  });
});
