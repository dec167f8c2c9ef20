/**
 * NTFS volumes made by mkntfs and written through the ntfs-3g FUSE mount, read back by
 * minescan's NTFS reader through the VFS: the listing, types, sizes, symlink targets and
 * contents equal the host tree they were written from (compressed, sparse, fragmented,
 * resident and large files, 700 entries in one directory, 30 levels deep, Unicode
 * names), and equal what The Sleuth Kit (fls, icat) reads from the same volume. Then
 * what NTFS adds: hard links as one file identity, lookups case-insensitive through
 * $UpCase, named streams, Windows and WSL symlinks and junctions resolved inside the
 * volume, other reparse points listed but not followed, DOS attributes and times in the
 * stat, sparse and compressed reads bounded in bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { NtfsFileSystem } from '../../mountfs/fs/ntfs/ntfs-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { buildNtfsVolume, flsListing, pattern, writeSourceTree } from './ntfs-volume.js';

const run = promisify(execFile);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The entries ntfs-3g's extras add beside the host tree. */
const EXTRAS = new Set(['/win-symlink', '/win-relative', '/junction', '/wsl-link', '/deduplicated.dat']);
const isMetadata = (p: string) => p.startsWith('/$') || EXTRAS.has(p);

let dir: string;
let image: string;
let tree: string;

async function openNtfs() {
  const counter = { bytesRead: 0 };
  const source = await FileByteSource.open(image, counter);
  const fs = await NtfsFileSystem.open(source);
  return { fs, vfs: new RawVfs(fs), counter, close: () => source.close() };
}

beforeAll(async () => {
  dir = await makeScratchDir('minescan-ntfs-');
  tree = path.join(dir, 'tree');
  image = path.join(dir, 'ntfs.img');
  await writeSourceTree(tree);
  await buildNtfsVolume(image, tree, path.join(dir, 'mnt'));
});

afterAll(async () => {
  if (dir) await removeScratchDir(dir);
});

describe('NTFS written by ntfs-3g', () => {
  it('reads the same tree that was written: names, types, sizes, symlink targets and contents', async () => {
    const { vfs, fs, close } = await openNtfs();
    try {
      expect(fs.kind).toBe('ntfs');
      const got = await vfsTree(vfs, isMetadata);
      const want = await hostTree(tree);
      expect(sorted(got)).toEqual(sorted(want));
      expect(got.size).toBeGreaterThan(750);
      // The DOS 8.3 twin of a long name is not listed (fls does not list it either).
      const { stdout: dos } = await run('ntfsls', ['-a', '-x', '-p', '/wide', image]);
      expect(dos).toContain('ENTRY-~1.TXT');
      expect(got.has('/wide/ENTRY-~1.TXT')).toBe(false);
      // The NTFS metadata files are listed too, each once.
      const root = (await vfs.readdir('/')).map((e) => e.name);
      for (const name of ['$MFT', '$MFTMirr', '$LogFile', '$Volume', '$UpCase', '$Extend']) expect(root.filter((n) => n === name)).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it('reads what The Sleuth Kit reads: every allocated name fls lists, and icat contents', async () => {
    const fls = await flsListing(image);
    expect(fls.streams.get('/resident.txt')).toEqual(['Zone.Identifier', 'payload']);
    const { vfs, close } = await openNtfs();
    try {
      const ours = new Map<string, number>();
      for await (const e of vfs.walk(['/**'])) ours.set(e.path, e.stat.ino);
      expect([...ours.entries()].sort()).toEqual([...fls.entries.entries()].sort());
      for (const [p, names] of fls.streams) expect((await vfs.streams!(p)).map((s) => s.name).sort(), p).toEqual(names);
      for (const p of ['/large.bin', '/compressed/config.txt', '/compressed/mixed.bin', '/sparse.bin', '/fragmented.bin', '/resident.txt']) {
        const { stdout: icat } = await run('icat', [image, String(fls.entries.get(p)!)], { encoding: 'buffer', maxBuffer: 64 << 20 });
        const chunks: Buffer[] = [];
        for await (const c of vfs.createReadStream(p)) chunks.push(c as Buffer);
        expect(sha256(Buffer.concat(chunks)), p).toBe(sha256(icat));
      }
    } finally {
      await close();
    }
  });

  it('gives all names of a hard-linked file one identity: the MFT record number', async () => {
    const { vfs, close } = await openNtfs();
    try {
      const names = ['/xmrig.exe', '/Windows/svchost.exe', '/wide/hardlink.exe'];
      const stats = await Promise.all(names.map((n) => vfs.stat(n)));
      expect(new Set(stats.map((s) => s.id)).size).toBe(1);
      expect(new Set(stats.map((s) => s.ino)).size).toBe(1);
      expect(stats[0]!.nlink).toBe(3);
      expect((await vfs.stat('/resident.txt')).id).not.toBe(stats[0]!.id);
    } finally {
      await close();
    }
  });

  it('looks names up case-insensitively as Windows does, and reports the stored spelling', async () => {
    const { vfs, fs, close } = await openNtfs();
    try {
      const hosts = await readFile(path.join(tree, 'Windows/System32/drivers/etc/hosts'));
      expect(await vfs.readFile('/WINDOWS/system32/DRIVERS/Etc/HOSTS')).toEqual(hosts);
      expect(await vfs.realpath('/windows/SYSTEM32/drivers/etc/hosts')).toBe('/Windows/System32/drivers/etc/hosts');
      // Beyond ASCII, through the volume's $UpCase table.
      expect(await vfs.exists('/üNÏCØDÉ 目录/ファイル — ✓.TXT')).toBe(true);
      expect(fs.foldName('straße')).toBe('STRAßE');
      expect(await vfs.exists('/Windows/System33')).toBe(false);
      // Case twins: both walked (the tree comparison), each found by its exact spelling.
      expect((await vfs.readFile('/Case.txt')).toString()).toBe('upper\n');
      expect((await vfs.readFile('/case.txt')).toString()).toBe('lower\n');
      expect(fs.notes()).toEqual([]);
    } finally {
      await close();
    }
  });

  it('lists named streams (alternate data streams) and reads them', async () => {
    const { vfs, close } = await openNtfs();
    try {
      const streams = await vfs.streams!('/resident.txt');
      expect(streams.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: 'payload', size: 20_000 },
        { name: 'Zone.Identifier', size: 26 },
      ]);
      expect(await vfs.readStream!('/resident.txt', 'payload', { maxBytes: 1 << 20 })).toEqual(pattern(20_000, 9));
      expect((await vfs.readStream!('/resident.txt', 'Zone.Identifier')).toString()).toContain('ZoneId=3');
      expect(await vfs.streams!('/large.bin')).toEqual([]);
      await expect(vfs.readStream!('/resident.txt', 'nothing')).rejects.toMatchObject({ kind: 'not-found' });
      // The unnamed stream is the file's contents, untouched by the named ones.
      expect((await vfs.readFile('/resident.txt')).toString()).toBe('small enough to live in the MFT record\n');
    } finally {
      await close();
    }
  });

  it('turns Windows symlinks and junctions into symlinks resolved inside the volume', async () => {
    const { vfs, close } = await openNtfs();
    try {
      const hosts = await readFile(path.join(tree, 'Windows/System32/drivers/etc/hosts'));
      expect(await vfs.readlink('/win-symlink')).toBe('/Windows/System32/drivers/etc/hosts');
      expect(await vfs.readFile('/win-symlink')).toEqual(hosts);
      expect(await vfs.readlink('/win-relative')).toBe('../Windows/System32');
      expect(await vfs.readFile('/win-relative/drivers/etc/hosts')).toEqual(hosts);
      const junction = await vfs.lstat('/junction');
      expect(junction.type).toBe('symlink');
      expect(junction.reparseTag).toBe(0xa0000003);
      expect(await vfs.readlink('/junction')).toBe('/Windows');
      expect(await vfs.readFile('/junction/System32/drivers/etc/hosts')).toEqual(hosts);
      expect((await vfs.lstat('/win-symlink')).reparseTag).toBe(0xa000000c);
      expect(await vfs.readlink('/wsl-link')).toBe('Windows/System32/drivers/etc/hosts');
      expect(await vfs.readFile('/wsl-link')).toEqual(hosts);
      // Other reparse points are listed with their tag, not followed, and their data is not guessed at.
      const dedup = await vfs.lstat('/deduplicated.dat');
      expect([dedup.type, dedup.reparseTag, dedup.dosAttributes! & 0x400]).toEqual(['file', 0x80000013, 0x400]);
      await expect(vfs.readFile('/deduplicated.dat')).rejects.toMatchObject({ kind: 'unsupported', message: expect.stringMatching(/deduplication reparse point/) });
      // ntfs-3g's own symlinks are Interix links.
      expect(await vfs.readlink('/absolute-link')).toBe('/Windows/System32');
      expect((await vfs.stat('/absolute-link')).type).toBe('directory');
    } finally {
      await close();
    }
  });

  it('reads sparse and compressed files without reading what they do not store', async () => {
    const { vfs, close, counter } = await openNtfs();
    try {
      await vfs.stat('/sparse.bin');
      let before = counter.bytesRead;
      const sparse = await vfs.readFile('/sparse.bin', { maxBytes: 16 << 20 });
      expect(sparse.length).toBe(12 << 20);
      expect(sparse.subarray(0, 4).toString()).toBe('head');
      expect(sparse.subarray(5 << 20, (5 << 20) + 6).toString()).toBe('middle');
      expect(sparse.subarray((12 << 20) - 4).toString()).toBe('tail');
      expect(counter.bytesRead - before).toBeLessThan(1 << 20);

      // The fragmented file really is in many runs (ntfsinfo lists them), and reads back whole.
      const { stdout: info } = await run('ntfsinfo', ['-v', '-F', '/fragmented.bin', image]);
      const runs = info.split('Dumping attribute $DATA')[1]!.split('\n').filter((l) => /^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s*$/.test(l));
      expect(runs.length).toBeGreaterThanOrEqual(10);
      expect(await vfs.readFile('/fragmented.bin', { maxBytes: 4 << 20 })).toEqual(await readFile(path.join(tree, 'fragmented.bin')));

      const st = await vfs.stat('/compressed/config.txt');
      expect(st.dosAttributes! & 0x800).toBe(0x800);
      before = counter.bytesRead;
      const text = await vfs.readFile('/compressed/config.txt', { maxBytes: 1 << 20 });
      expect(text).toEqual(await readFile(path.join(tree, 'compressed/config.txt')));
      expect(counter.bytesRead - before).toBeLessThan(text.length / 4);
      // Reads that start and end inside compression units.
      const part = await vfs.readFile('/compressed/mixed.bin', { offset: 65_000, maxBytes: 70_000 });
      expect(part).toEqual((await readFile(path.join(tree, 'compressed/mixed.bin'))).subarray(65_000, 135_000));
    } finally {
      await close();
    }
  });

  it('stats times from $STANDARD_INFORMATION and the DOS attributes', async () => {
    const { vfs, close } = await openNtfs();
    try {
      const st = await vfs.stat('/large.bin');
      const host = await stat(path.join(tree, 'large.bin'));
      // cp -a keeps the modification time; NTFS keeps 100 ns.
      expect(Math.abs(st.mtime - host.mtimeMs / 1000)).toBeLessThan(1e-3);
      expect(st.crtime).toBeGreaterThan(0);
      expect(st.mode & 0o170000).toBe(0o100000);
      expect((await vfs.stat('/wide')).mode & 0o170000).toBe(0o040000);
      // Interix symlinks carry the system attribute; ordinary files the archive one.
      expect((await vfs.lstat('/relative-link')).dosAttributes! & 0x4).toBe(0x4);
      expect(st.dosAttributes! & 0x20).toBe(0x20);
      expect(st.dosAttributes! & 0x2).toBe(0);
    } finally {
      await close();
    }
  });
});
