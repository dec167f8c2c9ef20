/**
 * XFS images made by the real tools from random trees, in the layouts mkfs.xfs offers
 * (v5 and v4, 512 B..64 KiB blocks, 8 KiB directory blocks, nrext64, with and without
 * bigtime and ftype), read back through the VFS: listing, types, symlink targets and
 * the MD5 of every file equal the reference (the kernel's view of the mounted image, or
 * the source tree for protofile-built images, which the kernel will not mount). Then
 * stat fields and flags, random-range reads, the log state, damaged images (typed
 * errors, no hang) and a fuzz run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chown, link, lstat, mkdir, open, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { XfsFileSystem } from '../../mountfs/fs/xfs/xfs-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import { MountfsError } from '../../mountfs/errors.js';
import { xfsBlockCrc } from '../../mountfs/fs/xfs/crc.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { hostTree, sorted, vfsTree, type TreeEntry } from '../helpers/tree-compare.js';
import { prng, writeRandomTree } from '../helpers/random-tree.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import {
  mkfsXfs,
  withLoopMount,
  xfsDbFsbToByte,
  xfsDbInodeByte,
  xfsDbInodeField,
  xfsFromTreeByMount,
  xfsFromTreeByProto,
} from '../helpers/xfs-image.js';

const run = promisify(execFile);
const BLOCK = 4096;
/** Long enough (> 336 bytes) that no inode literal area holds it: a remote symlink. */
const REMOTE_TARGET = ['y'.repeat(250), 'z'.repeat(250), 'w'.repeat(250), 'v'.repeat(100)].join('/');

async function openXfs(file: string) {
  const counter = { bytesRead: 0 };
  const source = await FileByteSource.open(file, counter);
  try {
    const fs = await XfsFileSystem.open(source);
    return { vfs: new RawVfs(fs), fs, source, counter };
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** A file with a written 4 KiB block every other block: one extent per block, a btree data fork. */
async function writeFragmented(file: string, blocks: number, seed: number): Promise<void> {
  const rnd = prng(seed);
  const fh = await open(file, 'w');
  try {
    for (let i = 0; i < blocks; i++) {
      const b = Buffer.alloc(BLOCK);
      for (let j = 0; j < BLOCK; j += 4) b.writeUInt32LE((rnd() * 2 ** 32) >>> 0, j);
      await fh.write(b, 0, BLOCK, 2 * i * BLOCK);
      await fh.sync();
    }
  } finally {
    await fh.close();
  }
}

/** Things the random tree lacks: a remote symlink, a FIFO, a device, a hard link, odd owners and times. */
async function addExtras(tree: string): Promise<void> {
  await symlink(REMOTE_TARGET, path.join(tree, 'remote-link'));
  await run('mkfifo', [path.join(tree, 'fifo')]);
  await run('mknod', [path.join(tree, 'null-dev'), 'c', '1', '3']);
  await writeFile(path.join(tree, 'linked'), 'two names\n');
  await link(path.join(tree, 'linked'), path.join(tree, 'linked-too'));
  await chown(path.join(tree, 'empty'), 1234, 5678);
  await utimes(path.join(tree, 'empty'), 1_000_000_000.25, 1_234_567_890.5);
  await mkdir(path.join(tree, 'small-dir'));
  for (let i = 0; i < 3; i++) await writeFile(path.join(tree, 'small-dir', `f${i}`), `${i}`);
  // Too many names for the inode, too few for a second directory block: block form.
  await mkdir(path.join(tree, 'block-dir'));
  for (let i = 0; i < 40; i++) await writeFile(path.join(tree, 'block-dir', `entry-number-${i}`), `${i}`);
}

describe('XFS reader', () => {
  let scratch: string;
  const trees: string[] = [];

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-xfs-');
    for (const seed of [1, 2]) {
      const t = path.join(scratch, `tree${seed}`);
      await writeRandomTree(t, seed, { bigDirEntries: seed === 1 ? 3000 : 200 });
      await addExtras(t);
      trees.push(t);
    }
    await writeFragmented(path.join(trees[0]!, 'fragmented.bin'), 300, 7);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const imageName = (name: string) => path.join(scratch, `${name.replace(/\W+/g, '_')}.img`);

  /** Builds through a loop mount; the reference is what the kernel shows on that mount. */
  async function byMount(name: string, tree: string, args: string[], extra?: (mnt: string) => Promise<void>, inspect?: (mnt: string) => Promise<void>) {
    const img = imageName(name);
    let reference = new Map<string, TreeEntry>();
    await xfsFromTreeByMount(tree, img, args, 128, async (mnt) => {
      if (extra) await extra(mnt);
      reference = await hostTree(mnt);
      if (inspect) await inspect(mnt);
    });
    return { img, reference };
  }

  const mounted: Array<[string, string[], number]> = [
    ['v5 4K', [], 0],
    ['v5 1K blocks', ['-b', 'size=1024'], 0],
    ['v5 8K directory blocks', ['-n', 'size=8192'], 1],
    ['v5 nrext64 1K inodes', ['-i', 'size=1024,nrext64=1'], 0],
    ['v5 without bigtime', ['-m', 'bigtime=0,inobtcount=0'], 1],
  ];

  it.each(mounted)('reads %s (kernel-written) like the mounted tree', async (name, args, treeIndex) => {
    const { img, reference } = await byMount(name, trees[treeIndex]!, args, async (mnt) => {
      await run('touch', ['-d', '1950-06-01T00:00:00.5Z', path.join(mnt, 'linked')]);
    });
    const { vfs, fs, source } = await openXfs(img);
    try {
      expect(fs.kind).toBe('xfs');
      expect(fs.sb.version).toBe(5);
      expect(sorted(await vfsTree(vfs))).toEqual(sorted(reference));
      expect(fs.notes()).toEqual([]);
      // Before the epoch: signed 32-bit seconds without bigtime, an offset 64-bit count with it.
      expect((await vfs.stat('/linked')).mtime).toBeCloseTo(-618_105_600 + 0.5, 6);
      const bigtime = await xfsDbInodeField(img, (await vfs.stat('/linked')).ino, 'v3.bigtime');
      expect(bigtime).toBe(name.includes('without bigtime') ? '0' : '1');
      if (name.includes('nrext64')) {
        const ino = (await vfs.stat('/fragmented.bin')).ino;
        expect(await xfsDbInodeField(img, ino, 'v3.nrext64')).toBe('1');
        expect(await xfsDbInodeField(img, ino, 'core.format')).toMatch(/btree/);
      }
    } finally {
      await source.close();
    }
  });

  const proto: Array<[string, string[], number]> = [
    ['v4 4K', ['-m', 'crc=0'], 0],
    ['v4 512-byte blocks', ['-m', 'crc=0', '-b', 'size=512'], 1],
    ['v4 1K blocks 8K directory blocks no ftype', ['-m', 'crc=0', '-b', 'size=1024', '-n', 'size=8192,ftype=0'], 0],
    ['v5 64K blocks', ['-b', 'size=65536'], 1],
    ['v5 protofile', [], 0],
  ];

  it.each(proto)('reads %s (mkfs-written) like the source tree', async (name, args, treeIndex) => {
    const v5 = !args.includes('crc=0');
    // mkfs.xfs 6.1 writes remote symlinks of v5 protofiles without their XSLM header
    // (xfs_repair and the kernel reject them too; see the damaged-images tests), so v5
    // protofile images get a copy of the tree without one.
    let tree = trees[treeIndex]!;
    if (v5) {
      tree = `${tree}-no-remote-link`;
      await run('cp', ['-a', trees[treeIndex]!, tree]);
      await rm(path.join(tree, 'remote-link'));
    }
    const img = imageName(name);
    await xfsFromTreeByProto(tree, img, args, name.includes('64K') ? 256 : 128);
    const { vfs, fs, source } = await openXfs(img);
    try {
      expect(fs.sb.version).toBe(v5 ? 5 : 4);
      expect(sorted(await vfsTree(vfs))).toEqual(sorted(await hostTree(tree)));
      expect(fs.notes()).toEqual([]);
    } finally {
      await source.close();
      if (v5) await rm(tree, { recursive: true, force: true });
    }
  });

  it('keeps inode numbers past 2^32 exact (a sparse 3 TiB filesystem)', async () => {
    const img = imageName('huge');
    // Three AGs of 2^28 - 1 blocks: inodes of AG 2 start at 2 << 31 = 2^32.
    await mkfsXfs(img, 3 << 20, ['-K', '-d', 'agsize=268435455b,size=805306365b', '-l', 'size=64m']);
    let reference = new Map<string, TreeEntry>();
    const inos = new Map<string, number>();
    await withLoopMount(img, async (mnt) => {
      for (let i = 0; i < 6; i++) {
        await mkdir(path.join(mnt, `d${i}`));
        await writeFile(path.join(mnt, `d${i}`, 'f'), `file in d${i}\n`);
        await symlink(REMOTE_TARGET, path.join(mnt, `d${i}`, 'remote-link'));
      }
      await run('cp', ['-a', path.join(trees[1]!, 'many'), path.join(mnt, 'd2')]);
      reference = await hostTree(mnt);
      const ls = (await run('ls', ['-i', mnt])).stdout;
      for (const m of ls.matchAll(/(\d+) (\S+)/g)) inos.set(m[2]!, Number(m[1]));
    });
    const { vfs, fs, source } = await openXfs(img);
    try {
      expect(Math.max(...inos.values())).toBeGreaterThan(2 ** 32);
      for (const [name, ino] of inos) expect((await vfs.stat(`/${name}`)).ino).toBe(ino);
      expect(sorted(await vfsTree(vfs))).toEqual(sorted(reference));
      expect(fs.notes()).toEqual([]);
    } finally {
      await source.close();
      await rm(img, { force: true });
    }
  });

  describe('one kernel-written image in detail', () => {
    let img: string;
    let reference: Map<string, TreeEntry>;
    /** What the kernel's lstat said on the mounted image, last thing before unmounting. */
    const kernelStats = new Map<string, BigIntStats>();
    const statPaths = ['/', '/empty', '/big.bin', '/linked', '/short-link', '/remote-link', '/many', '/small-dir', '/fifo', '/null-dev', '/fragmented.bin'];
    const prealloc = Buffer.alloc(1 << 20);
    prealloc.fill(0x61, 256 << 10, 260 << 10);

    beforeAll(async () => {
      ({ img, reference } = await byMount('main', trees[0]!, [], async (mnt) => {
        await run('xfs_io', ['-f', '-c', 'falloc 0 1m', '-c', 'pwrite -S 0x61 256k 4k', '-c', 'fsync', path.join(mnt, 'prealloc.bin')]);
        await run('touch', ['-h', '-d', '2100-01-01T00:00:00Z', path.join(mnt, 'short-link')]);
        await run('touch', ['-d', '1950-06-01T00:00:00.5Z', path.join(mnt, 'linked')]);
        await run('chattr', ['+i', path.join(mnt, 'big.bin')]);
        await run('chattr', ['+a', path.join(mnt, 'empty')]);
        // Free space inside /many's data blocks, and whole data blocks freed (holes below the leaf).
        await run('sh', ['-c', 'rm many/entry-1* many/entry-2?-*'], { cwd: mnt });
        // A directory whose blocks are allocated between its own files' blocks (the allocator keeps
        // both near the directory's inode): too many extents for the inode, a btree fork.
        const longName = 'n'.repeat(180);
        const btreeDir = `mkdir btree-dir; for i in $(seq 0 59); do for j in 0 1 2 3 4 5 6 7 8 9; do touch btree-dir/${longName}-$i-$j; done; head -c 4096 /dev/urandom > btree-dir/data-$i; sync btree-dir/data-$i; done`;
        await run('bash', ['-c', btreeDir], { cwd: mnt });
      }, async (mnt) => {
        // After the reference walk, whose reads move atimes.
        for (const p of statPaths) kernelStats.set(p, await lstat(path.join(mnt, p), { bigint: true }));
      }));
    });

    it('reads like the mounted tree, with the data fork forms it was built to have', async () => {
      const { vfs, fs, source } = await openXfs(img);
      try {
        expect(sorted(await vfsTree(vfs))).toEqual(sorted(reference));
        const ino = async (p: string) => (await vfs.lstat(p)).ino;
        expect(await xfsDbInodeField(img, await ino('/fragmented.bin'), 'core.format')).toMatch(/btree/);
        expect(await xfsDbInodeField(img, await ino('/many'), 'core.format')).toMatch(/extents|btree/);
        expect((await vfs.stat('/many')).size).toBeGreaterThan(fs.sb.dirBlockSize);
        expect(await xfsDbInodeField(img, await ino('/block-dir'), 'core.format')).toMatch(/extents/);
        expect((await vfs.stat('/block-dir')).size).toBe(fs.sb.dirBlockSize);
        expect(await xfsDbInodeField(img, await ino('/small-dir'), 'core.format')).toMatch(/local/);
        expect(await xfsDbInodeField(img, await ino('/btree-dir'), 'core.format')).toMatch(/btree/);
        expect((await vfs.readdir('/btree-dir')).length).toBe(660);
        expect(await xfsDbInodeField(img, await ino('/remote-link'), 'core.format')).toMatch(/extents/);
        expect(await xfsDbInodeField(img, await ino('/short-link'), 'core.format')).toMatch(/local/);
        const bmap = (await run('xfs_db', ['-r', '-c', `inode ${await ino('/prealloc.bin')}`, '-c', 'bmap', img])).stdout;
        expect(bmap).toMatch(/flag 1/);
        expect(await vfs.readFile('/prealloc.bin')).toEqual(prealloc);
        expect(await vfs.readlink('/remote-link')).toBe(REMOTE_TARGET);
      } finally {
        await source.close();
      }
    });

    it('gives stat fields and inode flags as the filesystem stores them', async () => {
      const { vfs, source } = await openXfs(img);
      try {
        const empty = await vfs.stat('/empty');
        expect([empty.uid, empty.gid, empty.size, empty.type]).toEqual([1234, 5678, 0, 'file']);
        expect(empty.mtime).toBeCloseTo(1_234_567_890.5, 6);
        const seconds = (ns: bigint) => Number(ns) / 1e9;
        for (const p of statPaths) {
          const ours = await vfs.lstat(p);
          const k = kernelStats.get(p)!;
          expect([ours.mode, ours.uid, ours.gid, ours.nlink, ours.ino], p).toEqual([k.mode, k.uid, k.gid, k.nlink, k.ino].map(Number));
          if (ours.type !== 'directory') expect(ours.size, p).toBe(Number(k.size));
          expect(ours.atime, p).toBeCloseTo(seconds(k.atimeNs), 6);
          expect(ours.mtime, p).toBeCloseTo(seconds(k.mtimeNs), 6);
          expect(ours.ctime, p).toBeCloseTo(seconds(k.ctimeNs), 6);
          expect(ours.crtime!, p).toBeCloseTo(seconds(k.birthtimeNs), 6);
        }
        expect(empty.flags).toEqual({ immutable: false, appendOnly: true });
        expect((await vfs.stat('/big.bin')).flags).toEqual({ immutable: true, appendOnly: false });
        expect((await vfs.stat('/fragmented.bin')).flags).toEqual({ immutable: false, appendOnly: false });
        const root = await vfs.stat('/');
        expect(root.type).toBe('directory');
        expect(root.mode & 0o170000).toBe(0o040000);
        expect((await vfs.stat('/big.bin')).crtime).toBeGreaterThan(1_600_000_000);
        expect((await vfs.lstat('/short-link')).mtime).toBe(4_102_444_800); // 2100-01-01, bigtime
        expect((await vfs.stat('/linked')).mtime).toBeCloseTo(-618_105_600 + 0.5, 6); // 1950-06-01, before the epoch
        expect((await vfs.stat('/linked')).nlink).toBe(2);
        expect((await vfs.stat('/linked-too')).ino).toBe((await vfs.stat('/linked')).ino);
        expect((await vfs.lstat('/fifo')).type).toBe('fifo');
        expect((await vfs.lstat('/null-dev')).type).toBe('char');
        expect((await vfs.readdir('/')).find((e) => e.name === 'fifo')?.type).toBe('fifo');
      } finally {
        await source.close();
      }
    });

    it('reads any byte range of sparse, fragmented, preallocated and large files like the source', async () => {
      const { fs, vfs, source } = await openXfs(img);
      try {
        const files: Array<[string, Buffer]> = [
          ['/big.bin', await readFile(path.join(trees[0]!, 'big.bin'))],
          ['/sparse.bin', await readFile(path.join(trees[0]!, 'sparse.bin'))],
          ['/fragmented.bin', await readFile(path.join(trees[0]!, 'fragmented.bin'))],
          ['/prealloc.bin', prealloc],
        ];
        const nodes = await Promise.all(files.map(async ([p]) => (await vfs.stat(p)).ino));
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: files.length - 1 }), fc.double({ min: 0, max: 1.1, noNaN: true }), fc.integer({ min: 0, max: 300_000 }), async (i, at, length) => {
            const [, want] = files[i]!;
            const offset = Math.floor(at * want.length);
            const got = await fs.read(nodes[i]!, offset, length);
            expect(got.equals(want.subarray(Math.min(offset, want.length), Math.min(offset + length, want.length)))).toBe(true);
          }),
          { numRuns: 300 },
        );
      } finally {
        await source.close();
      }
    });

    it('reads only what it needs', async () => {
      const { vfs, counter, source } = await openXfs(img);
      try {
        await vfs.readFile('/empty');
        await vfs.readFile('/fragmented.bin', { maxBytes: 4096 });
        await vfs.readFile('/big.bin', { maxBytes: 4096 });
        expect(counter.bytesRead).toBeLessThan(1 << 20);
      } finally {
        await source.close();
      }
    });

    describe('damaged images', () => {
      const damaged = async (name: string, patch: (b: Buffer) => void | Promise<void>, base = img) => {
        const bytes = await readFile(base);
        await patch(bytes);
        const file = path.join(scratch, `damaged-${name}.img`);
        await writeFile(file, bytes);
        return file;
      };
      /** The v5 CRC of the block at `at` rewritten, so a patch reaches the check behind it. */
      const reseal = (b: Buffer, at: number, field: number) => b.writeUInt32LE(xfsBlockCrc(b.subarray(at, at + BLOCK), field), at + field);
      const walkAll = async (file: string) => {
        const errors: unknown[] = [];
        const { vfs, source } = await openXfs(file);
        try {
          for await (const e of vfs.walk(['/**'], { onError: (_p, err) => errors.push(err) })) {
            if (e.stat.type === 'file') await vfs.readFile(e.path).catch((err) => errors.push(err));
            if (e.stat.type === 'symlink') await vfs.readlink(e.path).catch((err) => errors.push(err));
          }
        } finally {
          await source.close();
        }
        return errors;
      };
      const isTyped = (e: unknown) => e instanceof MountfsError;
      const inoOf = async (p: string) => {
        const { vfs, source } = await openXfs(img);
        try {
          return (await vfs.lstat(p)).ino;
        } finally {
          await source.close();
        }
      };

      it('rejects a zeroed superblock, a bad AG count and a truncated image', async () => {
        await expect(openXfs(await damaged('zero-sb', (b) => void b.fill(0, 0, 512)))).rejects.toSatisfy(isTyped);
        await expect(openXfs(await damaged('agcount-0', (b) => void b.writeUInt32BE(0, 88)))).rejects.toThrow(/no allocation groups/);
        await expect(openXfs(await damaged('agcount-big', (b) => void b.writeUInt32BE(100_000, 88)))).rejects.toThrow(/do not fit/);
        await expect(openXfs(await damaged('agblklog', (b) => void (b[124] = 40)))).rejects.toSatisfy(isTyped);
        await expect(openXfs(await damaged('blocksize', (b) => void b.writeUInt32BE(4097, 4)))).rejects.toSatisfy(isTyped);
        await expect(openXfs(await damaged('rootino', (b) => void b.writeUInt32BE(0x7fffffff, 60)))).rejects.toSatisfy(isTyped);
        const short = path.join(scratch, 'short.img');
        await writeFile(short, (await readFile(img)).subarray(0, 300));
        await expect(openXfs(short)).rejects.toSatisfy(isTyped);
        const half = path.join(scratch, 'half.img');
        await writeFile(half, (await readFile(img)).subarray(0, 40 << 20));
        const errors = await walkAll(half).catch((e) => [e]);
        expect(errors.length).toBeGreaterThan(0);
        expect(errors.every(isTyped)).toBe(true);
      });

      it('ends a bmap btree whose sibling link or child pointer loops back', async () => {
        const ino = await inoOf('/fragmented.bin');
        const ptrs = (await xfsDbInodeField(img, ino, 'u3.bmbt.ptrs')).split(/\s+/).map((t) => Number(t.split(':').pop()));
        const leaf = ptrs[0]!;
        const leafByte = await xfsDbFsbToByte(img, leaf);
        const u64 = (b: Buffer, at: number, v: number) => b.writeBigUInt64BE(BigInt(v), at);
        // The first leaf's right sibling is the leaf itself.
        const sibling = await damaged('bmbt-sibling', (b) => {
          u64(b, leafByte + 16, leaf);
          reseal(b, leafByte, 64);
        });
        // The root made level 2, the leaf made a level-1 node whose only child is itself.
        const inodeByte = await xfsDbInodeByte(img, ino);
        const child = await damaged('bmbt-child', (b) => {
          b.writeUInt16BE(2, inodeByte + 176);
          b.writeUInt16BE(1, leafByte + 4);
          b.writeUInt16BE(1, leafByte + 6);
          u64(b, leafByte + 72, 0);
          u64(b, leafByte + 72 + Math.floor((BLOCK - 72) / 16) * 8, leaf);
          reseal(b, leafByte, 64);
        });
        for (const file of [sibling, child]) {
          const { vfs, source } = await openXfs(file);
          try {
            await expect(vfs.readFile('/fragmented.bin', { maxBytes: 4 << 20 })).rejects.toThrow(/loops back to block/);
          } finally {
            await source.close();
          }
        }
      });

      it('rejects a directory entry whose name runs past the block, or whose inode lies past the AGs', async () => {
        const ino = await inoOf('/many');
        const bmap = (await run('xfs_db', ['-r', '-c', `inode ${ino}`, '-c', 'bmap', img])).stdout;
        const bytes = await readFile(img);
        // Walk /many's v5 data blocks (64-byte header, ftype on) for one with a used entry within
        // 272 bytes (the size of a 255-byte-name entry) of its end.
        let blockByte = -1;
        let nearEnd = -1;
        const used: number[] = [];
        for (const m of bmap.matchAll(/data offset (\d+) startblock (\d+) \(\S+\) count (\d+)/g)) {
          if (Number(m[1]) >= 2 ** 35 / BLOCK || nearEnd >= 0) break;
          const extentByte = await xfsDbFsbToByte(img, Number(m[2]));
          for (let b = 0; b < Number(m[3]) && nearEnd < 0; b++) {
            blockByte = extentByte + b * BLOCK;
            used.length = 0;
            for (let pos = 64; pos < BLOCK; ) {
              if (bytes.readUInt16BE(blockByte + pos) === 0xffff) {
                pos += bytes.readUInt16BE(blockByte + pos + 2);
                continue;
              }
              used.push(pos);
              pos += Math.ceil((8 + 1 + bytes[blockByte + pos + 8]! + 1 + 2) / 8) * 8;
            }
            nearEnd = used.find((pos) => pos + 272 > BLOCK) ?? -1;
          }
        }
        expect(nearEnd).toBeGreaterThan(0);
        const longName = await damaged('dirent-namelen', (b) => {
          b[blockByte + nearEnd + 8] = 255;
          reseal(b, blockByte, 4);
        });
        expect((await walkAll(longName)).some((e) => e instanceof MountfsError && /runs past the end of the block/.test(e.message))).toBe(true);
        const { fs, source } = await openXfs(img);
        const pastAgs = (fs.sb.agCount + 3) * 2 ** (fs.sb.agBlkLog + fs.sb.inoPerBlockLog);
        await source.close();
        const badIno = await damaged('dirent-ino', (b) => {
          b.writeBigUInt64BE(BigInt(pastAgs), blockByte + used[2]!);
          reseal(b, blockByte, 4);
        });
        expect((await walkAll(badIno)).some((e) => e instanceof MountfsError && /past the filesystem's \d+ AGs/.test(e.message))).toBe(true);
      });

      it('rejects a remote symlink block without its header, as mkfs.xfs 6.1 writes them from v5 protofiles', async () => {
        const tree = path.join(scratch, 'remote-only');
        await mkdir(tree);
        await symlink(REMOTE_TARGET, path.join(tree, 'remote-link'));
        const bad = imageName('proto-remote-link');
        await xfsFromTreeByProto(tree, bad, []);
        const { vfs, source } = await openXfs(bad);
        try {
          await expect(vfs.readlink('/remote-link')).rejects.toThrow(/bad symlink block magic/);
        } finally {
          await source.close();
        }
      });

      it('refuses files on the realtime device, and says the device is not read', async () => {
        // This kernel has no CONFIG_XFS_RT and mkfs -p will not make realtime files, so xfs_db flags one.
        const flagged = await damaged('realtime-file', () => undefined);
        const ino = await inoOf('/big.bin');
        await run('xfs_db', ['-x', '-c', `inode ${ino}`, '-c', 'write core.immutable 0', '-c', 'write core.realtime 1', flagged]);
        const opened = await openXfs(flagged);
        try {
          await expect(opened.vfs.readFile('/big.bin')).rejects.toThrow(/realtime device/);
          expect((await opened.vfs.readFile('/empty')).length).toBe(0);
        } finally {
          await opened.source.close();
        }
        const withRt = imageName('rtdev');
        const rtdev = `${withRt}.rt`;
        await run('truncate', ['-s', '16M', rtdev]);
        await mkfsXfs(withRt, 64, ['-r', `rtdev=${rtdev}`]);
        const rt = await openXfs(withRt);
        try {
          expect(rt.fs.notes().join('\n')).toMatch(/realtime device is not read/);
        } finally {
          await rt.source.close();
        }
      });

      it('says when the log needs recovery, after the log has wrapped, as xfs_logprint does', async () => {
        for (const dirty of [false, true]) {
          const file = imageName(`log-${dirty ? 'dirty' : 'clean'}`);
          await mkfsXfs(file, 64, []);
          await withLoopMount(file, async (mnt) => {
            // Enough metadata churn to wrap the 1368-block log, so the head is found by cycle number.
            const churn = 'for r in 1 2 3 4 5; do mkdir x; (cd x && seq 1 3000 | xargs touch); sync; rm -rf x; sync; done';
            await run('sh', ['-c', churn], { cwd: mnt });
            for (let i = 0; i < 20; i++) await writeFile(path.join(mnt, `new-${i}`), `new ${i}\n`);
            if (dirty) await run('xfs_io', ['-x', '-c', 'shutdown -f', mnt]);
          });
          const logprint = (await run('xfs_logprint', ['-t', file], { maxBuffer: 64 << 20 })).stdout;
          expect(logprint).toMatch(dirty ? /state: <DIRTY>/ : /state: <CLEAN>/);
          if (dirty) expect(Math.max(...[...logprint.matchAll(/LSN cycle (\d+)/g)].map((m) => Number(m[1])))).toBeGreaterThan(1);
          const opened = await openXfs(file);
          try {
            if (dirty) expect(opened.fs.notes().join('\n')).toMatch(/log needs recovery/);
            else expect(opened.fs.notes()).toEqual([]);
          } finally {
            await opened.source.close();
          }
        }
      });

      it('says when the filesystem needs repair, mkfs never finished, or log features are pending', async () => {
        const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
          ['needsrepair', (b) => void b.writeUInt32BE(b.readUInt32BE(216) | 0x10, 216), /needing xfs_repair/],
          ['inprogress', (b) => void (b[126] = 1), /mkfs never finished/],
          ['log-incompat', (b) => void b.writeUInt32BE(1, 220), /incompatible log features/],
        ];
        for (const [name, patch, note] of cases) {
          const opened = await openXfs(await damaged(name, patch));
          try {
            expect(opened.fs.notes().join('\n')).toMatch(note);
          } finally {
            await opened.source.close();
          }
        }
      });
    });
  });

  describe('fuzzing', () => {
    const RUNS = Number(process.env.MINESCAN_FUZZ_RUNS ?? 150);
    let v5: Buffer;
    let v4: Buffer;
    /** Metadata worth damaging, found by xfs_db: inode chunks, /many's directory blocks, the bmap btree leaves. */
    const metadata = new Map<Buffer, Array<[number, number]>>();

    async function metadataRanges(img: string): Promise<Array<[number, number]>> {
      const db = async (...cmds: string[]) => (await run('xfs_db', ['-r', ...cmds.flatMap((c) => ['-c', c]), img])).stdout;
      const ranges: Array<[number, number]> = [];
      const inodeSize = Number(/inodesize = (\d+)/.exec(await db('sb 0', 'p inodesize'))![1]);
      for (const p of ['/', '/many', '/fragmented.bin', '/remote-link', '/d0']) {
        const ino = Number(/current inode number is (\d+)/.exec(await db(`path ${p}`, 'inode'))![1]);
        const at = await xfsDbInodeByte(img, ino);
        ranges.push([at - 16 * inodeSize, at + 16 * inodeSize]);
      }
      for (const p of ['/many', '/fragmented.bin', '/block-dir']) {
        const bmap = await db(`path ${p}`, 'bmap');
        for (const m of [...bmap.matchAll(/startblock (\d+) .*count (\d+)/g)].slice(0, 3)) {
          const at = await xfsDbFsbToByte(img, Number(m[1]));
          ranges.push([at, at + Math.min(Number(m[2]), 8) * 1024]);
        }
      }
      const leaf = /ptrs\[[^\]]*\] = (?:\d+:)?(\d+)/.exec(await db('path /fragmented.bin', 'p'));
      if (leaf) {
        const at = await xfsDbFsbToByte(img, Number(leaf[1]));
        ranges.push([at, at + 1024]);
      }
      return ranges.map(([a, b]) => [Math.max(0, a), b]);
    }

    beforeAll(async () => {
      const tree = path.join(scratch, 'fuzz-tree');
      await writeRandomTree(tree, 5, { files: 15, bigDirEntries: 300, maxFileBytes: 20_000 });
      await addExtras(tree);
      await writeFragmented(path.join(tree, 'fragmented.bin'), 40, 9);
      const v5img = imageName('fuzz-v5');
      await xfsFromTreeByMount(tree, v5img, ['-b', 'size=1024'], 32);
      v5 = await readFile(v5img);
      metadata.set(v5, await metadataRanges(v5img));
      const v4img = imageName('fuzz-v4');
      await xfsFromTreeByProto(tree, v4img, ['-m', 'crc=0', '-b', 'size=1024'], 32);
      v4 = await readFile(v4img);
      metadata.set(v4, await metadataRanges(v4img));
    });

    /** The image with some bytes replaced, without copying it. */
    class FlippedSource implements ByteSource {
      readonly description = 'fuzzed XFS image';
      constructor(private readonly base: Buffer, private readonly flips: Array<[number, number]>) {}
      get size() {
        return this.base.length;
      }
      async read(offset: number, length: number): Promise<Buffer> {
        const end = Math.min(this.base.length, offset + length);
        const out = Buffer.from(this.base.subarray(Math.min(offset, end), end));
        for (const [at, value] of this.flips) if (at >= offset && at < end) out[at - offset] = value;
        return out;
      }
      async close() {}
    }

    const assertTyped = (err: unknown) => {
      if (!(err instanceof MountfsError)) throw err;
    };
    async function exercise(fs: XfsFileSystem): Promise<void> {
      const vfs = new RawVfs(fs);
      let n = 0;
      for await (const e of vfs.walk(['/**'], { maxEntries: 20_000, onError: (_p, err) => assertTyped(err) })) {
        if (e.stat.type === 'file' && n++ < 200) await vfs.readFile(e.path, { maxBytes: 1 << 16 }).catch(assertTyped);
        if (e.stat.type === 'symlink') await vfs.readlink(e.path).catch(assertTyped);
      }
    }
    async function settles(p: Promise<unknown>, ms = 5000): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not finish in ${ms} ms`)), ms)));
      try {
        await Promise.race([p.then(() => undefined, assertTyped), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    /** Up to 8 byte changes, each inside one of the ranges. */
    const flips = (ranges: Array<[number, number]>, size: number) =>
      fc.array(
        fc
          .tuple(fc.integer({ min: 0, max: ranges.length - 1 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 0, max: 255 }))
          .map(([r, at, value]): [number, number] => {
            const [from, to] = ranges[r]!;
            return [Math.min(size - 1, from + Math.floor(at * (Math.min(to, size) - from))), value];
          }),
        { minLength: 1, maxLength: 8 },
      );

    it.each([
      ['v5 superblock and AG headers', () => v5, () => [[0, 512], [512, 64 << 10]]],
      ['v5 inodes, directory and btree blocks', () => v5, () => metadata.get(v5)!],
      ['v4 superblock and AG headers', () => v4, () => [[0, 512], [512, 64 << 10]]],
      ['v4 inodes, directory and btree blocks', () => v4, () => metadata.get(v4)!],
    ] as Array<[string, () => Buffer, () => Array<[number, number]>]>)('%s: every walk ends, cleanly or with a MountfsError', async (_name, image, ranges) => {
      const base = image();
      await settles(XfsFileSystem.open(new FlippedSource(base, [])).then(exercise)); // the untouched image walks
      await fc.assert(
        fc.asyncProperty(flips(ranges(), base.length), async (f) => {
          await settles(XfsFileSystem.open(new FlippedSource(base, f)).then(exercise));
        }),
        { numRuns: RUNS },
      );
    });

    it('is not fooled into success by its own harness', async () => {
      await expect(settles(Promise.reject(new TypeError('boom')))).rejects.toThrow('boom');
      await expect(settles(new Promise(() => undefined), 50)).rejects.toThrow(/did not finish/);
    });
  });
});
