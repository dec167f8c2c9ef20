/**
 * The ext2/3/4 reader of mountfs/fs/ext4 against images made by the real tools: random
 * trees copied in by mkfs -d (large directories turned into hash trees by e2fsck -D) in
 * every layout that changes how the reader finds things, read back through the VFS and
 * compared with the host tree; stat fields and inode flags; inline data, unwritten
 * extents, files past 4 GiB, symlinks with attribute blocks; Sleuth Kit's listing;
 * damaged images (typed errors, never a hang); and how little of an image a task reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chmod, chown, link, lstat, mkdir, open, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Ext4FileSystem } from '../../mountfs/fs/ext4/ext4-fs.js';
import { parseSuperblock } from '../../mountfs/fs/ext4/superblock.js';
import { BlockReader } from '../../mountfs/fs/ext4/block-cache.js';
import { GroupDescriptors } from '../../mountfs/fs/ext4/group-descriptors.js';
import { BinaryView } from '../../mountfs/binary.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import type { ByteSource, ReadCounter } from '../../mountfs/sources/byte-source.js';
import { BufferSource } from '../helpers/buffer-source.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import {
  CountingSource,
  debugfs,
  hasCommand,
  inodeOffset,
  makeExt4Image,
  makeScratch,
  removeScratch,
  treeSpecArb,
  writeTree,
  type Ext4ImageOptions,
} from '../helpers/ext4-image.js';
import { fixture } from '../helpers/fixtures.js';
import { resealExt4, type Reseal } from '../helpers/ext4-reseal.js';

const run = promisify(execFile);
/** Random trees every layout is checked with. */
const TREES = Number(process.env.MINESCAN_EXT4_TREES ?? 3);
const SEED = Number(process.env.MINESCAN_EXT4_SEED ?? 20240601);
const DEBIAN_ROOT = fixture('debianRoot');
const HAS_FLS = await hasCommand('fls');
const skipLostFound = (p: string) => p === '/lost+found' || p.startsWith('/lost+found/');
const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '_');
const isTyped = (e: unknown): e is MountfsError => e instanceof MountfsError;

let scratch: string;
beforeAll(async () => {
  scratch = await makeScratch();
});
afterAll(async () => {
  await removeScratch(scratch);
});

async function openSource(source: ByteSource) {
  const fs = await Ext4FileSystem.open(source);
  return { fs, vfs: new RawVfs(fs) };
}

async function openImage(file: string, counter?: ReadCounter) {
  const source = await FileByteSource.open(file, counter);
  try {
    return { ...(await openSource(source)), source };
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** Fails instead of hanging: every damaged-image case must settle quickly. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Walks everything and reads every file and link; returns the errors met on the way. */
async function walkAll(source: ByteSource): Promise<unknown[]> {
  const errors: unknown[] = [];
  const { vfs } = await openSource(source);
  for await (const e of vfs.walk(['/**'], { onError: (_p, err) => errors.push(err) })) {
    if (e.stat.type === 'file') await vfs.readFile(e.path, { maxBytes: 1 << 16 }).catch((err) => errors.push(err));
    if (e.stat.type === 'symlink') await vfs.readlink(e.path).catch((err) => errors.push(err));
  }
  return errors;
}

/** debugfs set_inode_field flags, OR-ing bits into the flags already there (extents stays on). */
async function addInodeFlags(image: string, file: string, bits: number): Promise<void> {
  const flags = Number(/Flags: (0x[0-9a-f]+)/.exec(await debugfs(image, `stat ${file}`))![1]);
  await debugfs(image, `set_inode_field ${file} flags 0x${(flags | bits).toString(16)}`, true);
}

const sampleTree = () => fc.sample(treeSpecArb, { numRuns: 1, seed: SEED })[0]!;

describe('random trees read back like their source', () => {
  /**
   * Every layout is built from the same few random trees (fast-check samples of
   * treeSpecArb, replayable with MINESCAN_EXT4_SEED), so writing and hashing a tree is
   * paid once per tree, not once per layout.
   */
  const specs = fc.sample(treeSpecArb, { numRuns: TREES, seed: SEED });
  const trees = new Map<string, Promise<{ dir: string; listing: ReturnType<typeof sorted> }>>();
  const treeFor = (index: number, trailingZeros: boolean) => {
    const key = `${index}-${trailingZeros}`;
    if (!trees.has(key)) {
      trees.set(key, (async () => {
        const dir = path.join(scratch, `tree-${key}`);
        await writeTree(dir, specs[index]!, { trailingZeros });
        return { dir, listing: sorted(await hostTree(dir)) };
      })());
    }
    return trees.get(key)!;
  };

  const layouts: Array<[string, Ext4ImageOptions, string]> = [
    ['ext4 4K', { sizeMiB: 128, blockSize: 4096 }, 'ext4'],
    ['ext4 1K', { sizeMiB: 128, blockSize: 1024 }, 'ext4'],
    ['ext4 2K', { sizeMiB: 128, blockSize: 2048 }, 'ext4'],
    ['ext4 64K', { sizeMiB: 384, blockSize: 65536, inodes: 16384 }, 'ext4'],
    ['ext4 indirect blocks 4K', { sizeMiB: 128, blockSize: 4096, features: '^extents,^64bit' }, 'ext4'],
    ['ext4 indirect blocks 1K', { sizeMiB: 128, blockSize: 1024, features: '^extents,^64bit' }, 'ext4'],
    ['ext4 inline_data', { sizeMiB: 128, blockSize: 4096, features: 'inline_data' }, 'ext4'],
    ['ext4 128-byte inodes', { sizeMiB: 128, blockSize: 4096, inodeSize: 128 }, 'ext4'],
    ['ext4 64bit', { sizeMiB: 128, blockSize: 4096, features: '64bit' }, 'ext4'],
    ['ext4 32-bit descriptors', { sizeMiB: 128, blockSize: 4096, features: '^64bit' }, 'ext4'],
    // 64 groups of 1 KiB blocks, 16 descriptors per block: four meta groups; -N spreads the inodes over them.
    ['ext4 meta_bg', { sizeMiB: 512, blockSize: 1024, features: 'meta_bg,^resize_inode', inodes: 8192 }, 'ext4'],
    ['ext4 bigalloc', { sizeMiB: 256, blockSize: 1024, features: 'bigalloc' }, 'ext4'],
    ['ext3', { sizeMiB: 128, type: 'ext3' }, 'ext3'],
    ['ext2', { sizeMiB: 128, type: 'ext2' }, 'ext2'],
    ['ext2 4K', { sizeMiB: 128, type: 'ext2', blockSize: 4096 }, 'ext2'],
    // Directory entries with a 16-bit name length and no file type byte.
    ['ext2 without filetype', { sizeMiB: 128, type: 'ext2', features: '^filetype' }, 'ext2'],
    ['ext2 revision 0', { sizeMiB: 128, type: 'ext2', extraArgs: ['-r', '0'] }, 'ext2'],
  ];

  it.each(layouts)('%s', async (name, options, kind) => {
    // mke2fs 1.47.0 -d cuts i_size of files ending in zeros when inline_data is on (see writeTree).
    const trailingZeros = !options.features?.includes('inline_data');
    for (let i = 0; i < specs.length; i++) {
      const tree = await treeFor(i, trailingZeros);
      const img = await makeExt4Image(tree.dir, path.join(scratch, `${slug(name)}-${i}.img`), { ...options, htree: true });
      try {
        const { fs, vfs, source } = await openImage(img);
        try {
          const what = `${name}, tree ${i} of seed ${SEED}`;
          expect(fs.kind, what).toBe(kind);
          expect(sorted(await vfsTree(vfs, skipLostFound)), what).toEqual(tree.listing);
          expect(fs.notes(), what).toEqual([]);
        } finally {
          await source.close();
        }
      } finally {
        await removeScratch(img);
      }
    }
  });
});

describe('one image, many questions', () => {
  let tree: string;
  let image: string;
  let bytes: Buffer;
  const bs = 4096;

  beforeAll(async () => {
    tree = path.join(scratch, 'shared-tree');
    await writeTree(tree, sampleTree());
    await mkdir(path.join(tree, 'loop-dir/sub'), { recursive: true });
    await mkdir(path.join(tree, 'secret'));
    await writeFile(path.join(tree, 'secret/plans'), 'x');
    await writeFile(path.join(tree, 'neighbour'), 'still readable\n');
    image = await makeExt4Image(tree, path.join(scratch, 'shared.img'), { sizeMiB: 96, blockSize: bs, htree: true });
    bytes = await readFile(image);
  });

  it('walks the htree directory and confirms debugfs sees it as hash-indexed', async () => {
    expect(await debugfs(image, 'htree /big-dir')).toMatch(/Root node dump/);
    expect(await debugfs(image, 'ex /fragmented.bin')).toMatch(/^ *2\/ *2/m);
    const { vfs, source } = await openImage(image);
    try {
      const names = (await vfs.readdir('/big-dir')).map((e) => e.name);
      expect(names.length).toBe((await hostTree(path.join(tree, 'big-dir'))).size);
      expect(new Set(names).size).toBe(names.length);
    } finally {
      await source.close();
    }
  });

  it('reads any byte range of a file like the host file (holes, extent edges, past the end)', async () => {
    const { vfs, fs, source } = await openImage(image);
    try {
      for (const file of ['fragmented.bin', 'sparse.bin', 'big.bin']) {
        const host = await readFile(path.join(tree, file));
        const ino = (await vfs.lstat(`/${file}`)).ino;
        await fc.assert(
          fc.asyncProperty(fc.nat({ max: host.length + 10_000 }), fc.nat({ max: 300_000 }), async (offset, length) => {
            const got = await fs.read(ino, offset, length);
            expect(got.equals(host.subarray(offset, offset + length))).toBe(true);
          }),
          { numRuns: 150, seed: SEED },
        );
      }
    } finally {
      await source.close();
    }
  });

  it('reads a small file without touching more than a sliver of the image', async () => {
    const big = path.join(scratch, 'lazy.img');
    await makeExt4Image(tree, big, { sizeMiB: 256, blockSize: bs });
    const counting = new CountingSource(await FileByteSource.open(big));
    try {
      const { vfs } = await openSource(counting);
      expect((await vfs.readFile('/neighbour')).toString()).toBe('still readable\n');
      expect(counting.bytesRead).toBeLessThan(64 * 1024);
      expect(counting.bytesRead).toBeLessThan(counting.size / 1000);

      // Streaming a 1 MiB+ file costs a few large reads, not one per block.
      const before = counting.reads;
      const size = (await vfs.stat('/big.bin')).size;
      let got = 0;
      for await (const chunk of vfs.createReadStream('/big.bin')) got += (chunk as Buffer).length;
      expect(got).toBe(size);
      expect(counting.reads - before).toBeLessThan(16);
    } finally {
      await counting.close();
    }
  });

  describe('damaged copies', () => {
    /** A patched copy whose checksums are made right again (superblock, and what `reseal` names), so the check behind them is reached. */
    const patched = (patch: (b: Buffer) => void, reseal: Reseal = {}): BufferSource => {
      const copy = Buffer.from(bytes);
      patch(copy);
      resealExt4(copy, reseal);
      return new BufferSource(copy, 'patched image');
    };
    const inodeAt = async (file: string) => ({
      ino: Number(/Inode: (\d+)/.exec(await debugfs(image, `stat ${file}`))![1]),
      offset: await inodeOffset(image, file, bs),
    });
    const expectTyped = async (work: Promise<unknown>, kind: MountfsError['kind'], message?: RegExp) => {
      const err = await within(10_000, work.then(() => undefined, (e: unknown) => e));
      expect(isTyped(err), String(err)).toBe(true);
      expect((err as MountfsError).kind).toBe(kind);
      if (message) expect((err as MountfsError).message).toMatch(message);
      return err as MountfsError;
    };

    it('refuses a truncated image and a zeroed superblock with typed errors', async () => {
      await expectTyped(Ext4FileSystem.open(new BufferSource(bytes.subarray(0, 1500))), 'corrupt', /ends before/);
      const err = await expectTyped(Ext4FileSystem.open(patched((b) => b.fill(0, 1024, 2048))), 'corrupt', /magic/);
      expect(err.structure).toBe('ext4 superblock');
      expect(err.offset).toBe(1024 + 0x38);

      // Cut where big.bin's data starts: the metadata in front opens, what lies past the cut is an error.
      const firstDataBlock = Number((await debugfs(image, 'blocks /big.bin')).trim().split(/\s+/)[0]);
      const half = new BufferSource(bytes.subarray(0, firstDataBlock * bs));
      const { fs } = await openSource(half);
      expect(fs.notes().join('\n')).toMatch(/shorter than the ext4 filesystem/);
      const errors = await within(20_000, walkAll(half));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every(isTyped)).toBe(true);
      expect(errors.some((e) => /past the end of the .*image/.test(String(e)))).toBe(true);
    });

    it('rejects impossible superblock geometry and unreadable features', async () => {
      const sb = (field: number, write: (b: Buffer, at: number) => void) => patched((b) => write(b, 1024 + field));
      await expectTyped(Ext4FileSystem.open(sb(0x18, (b, at) => b.writeUInt32LE(7, at))), 'corrupt', /s_log_block_size/);
      await expectTyped(Ext4FileSystem.open(sb(0x20, (b, at) => b.writeUInt32LE(0, at))), 'corrupt', /s_blocks_per_group/);
      await expectTyped(Ext4FileSystem.open(sb(0x28, (b, at) => b.writeUInt32LE(0, at))), 'corrupt', /s_inodes_per_group/);
      await expectTyped(Ext4FileSystem.open(sb(0x58, (b, at) => b.writeUInt16LE(100, at))), 'corrupt', /s_inode_size/);
      await expectTyped(Ext4FileSystem.open(sb(0x0, (b, at) => b.writeUInt32LE(0xffffffff, at))), 'corrupt', /s_inodes_count/);
      await expectTyped(Ext4FileSystem.open(sb(0xfe, (b, at) => b.writeUInt16LE(48, at))), 'corrupt', /s_desc_size/);
      const incompat = (bits: number) => sb(0x60, (b, at) => b.writeUInt32LE(b.readUInt32LE(at) | bits, at));
      await expectTyped(Ext4FileSystem.open(incompat(0x8)), 'unsupported', /journal device/);
      await expectTyped(Ext4FileSystem.open(incompat(0x1)), 'unsupported', /compression/);
      await expectTyped(Ext4FileSystem.open(incompat(0x4000000)), 'unsupported', /0x4000000/);
    });

    it('rejects a group descriptor whose inode table lies past the end', async () => {
      // 4 KiB blocks: the descriptor table is block 1; group 0's bg_inode_table_lo is at +8.
      const source = patched((b) => b.writeUInt32LE(0xfffffff0, bs + 8), { groups: [0] });
      const err = await expectTyped(Ext4FileSystem.open(source), 'corrupt', /inode table/);
      expect(err.offset).toBe(bs + 8);
    });

    it('ends a walk through a directory that contains itself or its parent', async () => {
      const looped = path.join(scratch, 'loops.img');
      await writeFile(looped, bytes);
      await debugfs(looped, 'link /loop-dir /loop-dir/self', true);
      await debugfs(looped, 'link /loop-dir /loop-dir/sub/parent', true);
      const source = new BufferSource(await readFile(looped));
      const errors = await within(20_000, walkAll(source));
      const loops = errors.filter((e) => isTyped(e) && /own ancestors/.test(e.message));
      expect(loops.length).toBe(2);
      const { fs, vfs } = await openSource(source);
      const self = (await fs.readdir((await vfs.lstat('/loop-dir')).ino)).find((e) => e.name === 'self');
      expect(self?.node).toBe((await vfs.lstat('/loop-dir')).ino);
    });

    it('stops at an extent index that points back at itself', async () => {
      // fragmented.bin has a depth-2 tree: root (in the inode) -> index block X -> leaves.
      const inode = await inodeAt('/fragmented.bin');
      const at = inode.offset + 0x28;
      expect(bytes.readUInt16LE(at + 6)).toBe(2);
      const x = bytes.readUInt32LE(at + 12 + 4);
      expect(bytes.readUInt16LE(x * bs)).toBe(0xf30a);
      const resealX = { blocks: [{ inode, block: x, kind: 'extent' as const }] };
      const source = patched((b) => b.writeUInt32LE(x, x * bs + 12 + 4), resealX); // X's first index entry -> X
      const { vfs } = await openSource(source);
      const err = await expectTyped(vfs.readFile('/fragmented.bin'), 'corrupt', new RegExp(`loops back to block ${x}`));
      expect(err.offset).toBe(x * bs + 12 + 4);
      // The same node claiming its own depth again is caught by the depth rule.
      const flat = patched((b) => {
        b.writeUInt16LE(1, at + 6);
        b.writeUInt32LE(x, x * bs + 12 + 4);
      }, { inodes: [inode], ...resealX });
      await expectTyped((await openSource(flat)).vfs.readFile('/fragmented.bin'), 'corrupt', /depth 1 should be 0/);
    });

    it('rejects extents that run past the filesystem and headers that overflow', async () => {
      const inode = await inodeAt('/big.bin');
      const at = inode.offset + 0x28;
      expect(bytes.readUInt16LE(at + 6)).toBe(0); // a leaf root: its first extent starts at +12
      const blocksCount = bytes.readUInt32LE(1024 + 4);
      const past = patched((b) => b.writeUInt32LE(blocksCount - 1, at + 12 + 8), { inodes: [inode] });
      await expectTyped((await openSource(past)).vfs.readFile('/big.bin'), 'corrupt', /outside the filesystem/);
      const crowded = patched((b) => b.writeUInt16LE(9, at + 2), { inodes: [inode] });
      await expectTyped((await openSource(crowded)).vfs.readFile('/big.bin'), 'corrupt', /do not fit/);
      const magic = patched((b) => b.writeUInt16LE(0x1234, at), { inodes: [inode] });
      await expectTyped((await openSource(magic)).vfs.readFile('/big.bin'), 'corrupt', /magic 0x1234/);
    });

    /** Absolute offset of the directory entry named `name` inside the blocks of `dir`. */
    const direntOffset = async (dir: string, name: string): Promise<number> => {
      const blocks = (await debugfs(image, `blocks ${dir}`)).trim().split(/\s+/).map(Number);
      for (const block of blocks) {
        const hit = bytes.subarray(block * bs, (block + 1) * bs).indexOf(Buffer.from(name));
        if (hit >= 0) return block * bs + hit - 8;
      }
      throw new Error(`${name} not found in ${dir}`);
    };

    it('rejects a directory entry with rec_len 0 or an inode number past s_inodes_count', async () => {
      const entry = await direntOffset('/big-dir', 'entry-77-');
      // The leaf block keeps a valid checksum, so the entry's own check is what stops the read.
      const leaf = { blocks: [{ inode: await inodeAt('/big-dir'), block: Math.floor(entry / bs), kind: 'dirent' as const }] };
      const zero = patched((b) => b.writeUInt16LE(0, entry + 4), leaf);
      const errors = await within(20_000, walkAll(zero));
      expect(errors.some((e) => isTyped(e) && /record length 0/.test(e.message) && e.offset === entry + 4)).toBe(true);
      expect(errors.every(isTyped)).toBe(true);

      const inodesCount = bytes.readUInt32LE(1024);
      const beyond = patched((b) => b.writeUInt32LE(inodesCount + 5, entry), leaf);
      const errors2 = await within(20_000, walkAll(beyond));
      expect(errors2.some((e) => isTyped(e) && /past the filesystem's/.test(e.message) && e.offset === entry)).toBe(true);
      const { fs } = await openSource(beyond);
      await expectTyped(fs.stat(inodesCount + 1), 'corrupt', /outside 1\.\./);
      await expectTyped(fs.stat(0), 'corrupt', /outside 1\.\./);
    });

    it('refuses a directory claiming more than 4 GiB instead of walking its holes', async () => {
      const inode = await inodeAt('/loop-dir');
      const at = inode.offset;
      const huge = patched((b) => {
        b.writeUInt32LE(b.readUInt32LE(1024 + 0x60) | 0x4000, 1024 + 0x60); // large_dir: i_size_high counts for directories
        b.writeUInt32LE(2, at + 0x6c);
      }, { inodes: [inode] });
      const { vfs } = await openSource(huge);
      expect((await vfs.lstat('/loop-dir')).size).toBeGreaterThan(2 ** 33);
      await expectTyped(vfs.readdir('/loop-dir'), 'limit', /larger than minescan reads/);
    });

    it('refuses an inode in a group whose inode table is marked uninitialised', async () => {
      // 1 KiB blocks: groups of 2048 inodes, so the large directory's later entries live in group 1.
      const img = await makeExt4Image(tree, path.join(scratch, 'uninit.img'), { sizeMiB: 96, blockSize: 1024 });
      await debugfs(img, 'set_bg 1 flags 1', true);
      // debugfs leaves group 1's checksum stale when the group has inodes in use: dumpe2fs
      // says what it should be, and minescan computes the same and refuses the group.
      const expected = /^Group 1: .* csum 0x([0-9a-f]+) \(EXPECTED 0x([0-9a-f]+)\)/m.exec((await run('dumpe2fs', [img], { maxBuffer: 16 << 20 })).stdout);
      expect(expected).not.toBeNull();
      const stale = await within(20_000, walkAll(new BufferSource(await readFile(img))));
      expect(stale.length).toBeGreaterThan(0);
      const mismatch = `bg_checksum 0x${expected![1]} does not match the 0x${expected![2]} computed`;
      expect(stale.filter((e) => !(isTyped(e) && e.message.includes(mismatch))).map(String).slice(0, 3)).toEqual([]);

      // With the checksum made right, the flag itself is what refuses the group.
      const sealed = await readFile(img);
      resealExt4(sealed, { groups: [1] });
      const errors = await within(20_000, walkAll(new BufferSource(sealed)));
      expect(errors.length).toBe(stale.length);
      expect(errors.filter((e) => !(isTyped(e) && /never initialised/.test(e.message))).map(String).slice(0, 3)).toEqual([]);
    });

    it('refuses an encrypted directory and reads on around it', async () => {
      const locked = path.join(scratch, 'encrypted.img');
      await writeFile(locked, bytes);
      await addInodeFlags(locked, '/secret', 0x800);
      const { vfs, source } = await openImage(locked);
      try {
        const errors: unknown[] = [];
        const seen: string[] = [];
        for await (const e of vfs.walk(['/*'], { onError: (_p, err) => errors.push(err) })) seen.push(e.path);
        expect(seen).toContain('/neighbour');
        await expectTyped(vfs.readdir('/secret'), 'unsupported', /encrypted directory/);
        expect((await vfs.readFile('/neighbour')).toString()).toBe('still readable\n');
      } finally {
        await source.close();
      }
    });

    it('survives random damage to the metadata: a typed error or a clean read, never a hang', async () => {
      const metadataEnd = 2 << 20; // superblock, descriptors, bitmaps, inode tables, early directories
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.integer({ min: 1024, max: metadataEnd - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 40 }),
          async (flips) => {
            const source = patched((b) => {
              for (const [at, value] of flips) b[at] = value;
            });
            const outcome = await within(
              15_000,
              walkAll(source).then(
                (errors) => errors,
                (err: unknown) => [err],
              ),
            );
            for (const e of outcome) expect(isTyped(e), String(e)).toBe(true);
          },
        ),
        { numRuns: Number(process.env.MINESCAN_EXT4_FUZZ_RUNS ?? 40), seed: SEED, endOnFailure: true },
      );
    });
  });
});

describe('inode details', () => {
  let tree: string;
  let image: string;
  const hugeMarkerAt = 4.5 * 2 ** 30;
  const hugeSize = 5 * 2 ** 30 + 3;

  beforeAll(async () => {
    tree = path.join(scratch, 'stat-tree');
    await mkdir(path.join(tree, 'sticky'), { recursive: true });
    await writeFile(path.join(tree, 'owned'), 'x'.repeat(5000));
    await chown(path.join(tree, 'owned'), 100_000, 200_000);
    await chmod(path.join(tree, 'owned'), 0o4750);
    await utimes(path.join(tree, 'owned'), 1_000_000_000.25, 1_234_567_890.5);
    await link(path.join(tree, 'owned'), path.join(tree, 'owned-too'));
    await chown(path.join(tree, 'sticky'), 1234, 5678);
    await chmod(path.join(tree, 'sticky'), 0o1777);
    await writeFile(path.join(tree, 'locked'), 'do not touch\n');
    await writeFile(path.join(tree, 'log'), 'appended\n');
    await writeFile(path.join(tree, 'prealloc'), Buffer.alloc(10_000, 0x41));
    await symlink('abc', path.join(tree, 'short-link'));
    const huge = await open(path.join(tree, 'huge.bin'), 'w');
    await huge.write(Buffer.from('start'), 0, 5, 0);
    await huge.write(Buffer.from('marker past 4 GiB'), 0, 17, hugeMarkerAt);
    await huge.write(Buffer.from('end'), 0, 3, hugeSize - 3);
    await huge.close();
    image = await makeExt4Image(tree, path.join(scratch, 'stat.img'), { sizeMiB: 64, blockSize: 4096 });
    await addInodeFlags(image, '/locked', 0x10);
    await addInodeFlags(image, '/log', 0x20);
    await addInodeFlags(image, '/sticky', 0x10);
  });

  it('gives mode, owner (32-bit ids), size, times, links and inode numbers as stored', async () => {
    const { vfs, source } = await openImage(image);
    try {
      for (const name of ['owned', 'sticky', 'locked', 'huge.bin']) {
        const host = await lstat(path.join(tree, name), { bigint: true });
        const st = await vfs.lstat(`/${name}`);
        expect([st.mode, st.uid, st.gid, st.nlink], name).toEqual([Number(host.mode), Number(host.uid), Number(host.gid), Number(host.nlink)]);
        if (st.type === 'file') expect(st.size).toBe(Number(host.size));
        // mke2fs -d keeps whole seconds only; nanoseconds are set with debugfs below.
        expect(st.mtime).toBe(Math.floor(Number(host.mtimeNs) / 1e9));
        expect(st.crtime).toBeGreaterThan(0);
        expect(st.ino).toBe(Number(/Inode: (\d+)/.exec(await debugfs(image, `stat /${name}`))![1]));
      }
      const owned = await vfs.lstat('/owned');
      expect([owned.uid, owned.gid, owned.mode & 0o7777, owned.mtime]).toEqual([100_000, 200_000, 0o4750, 1_234_567_890]);
      expect((await vfs.lstat('/owned-too')).ino).toBe(owned.ino);
      expect(owned.nlink).toBe(2);
      expect((await vfs.lstat('/sticky')).type).toBe('directory');
    } finally {
      await source.close();
    }
  });

  it('decodes nanoseconds and the epoch bits of the extra timestamp words', async () => {
    const img = path.join(scratch, 'times.img');
    await writeFile(img, await readFile(image));
    await debugfs(img, `set_inode_field /owned mtime_extra ${500_000_000 * 4}`, true);
    await debugfs(img, 'set_inode_field /log mtime @1234567890', true);
    await debugfs(img, `set_inode_field /log mtime_extra ${250_000_000 * 4 + 1}`, true);
    await debugfs(img, `set_inode_field /owned crtime_extra ${123_000_000 * 4}`, true);
    const { vfs, source } = await openImage(img);
    try {
      expect((await vfs.lstat('/owned')).mtime).toBe(1_234_567_890.5);
      // Epoch bit 1: the same second 2^32 seconds later (the year 2145).
      expect((await vfs.lstat('/log')).mtime).toBe(1_234_567_890 + 2 ** 32 + 0.25);
      expect(((await vfs.lstat('/owned')).crtime! % 1).toFixed(3)).toBe('0.123');
    } finally {
      await source.close();
    }
  });

  it('reads immutable and append-only flags set with debugfs', async () => {
    const { vfs, source } = await openImage(image);
    try {
      expect((await vfs.lstat('/locked')).flags).toEqual({ immutable: true, appendOnly: false });
      expect((await vfs.lstat('/log')).flags).toEqual({ immutable: false, appendOnly: true });
      expect((await vfs.lstat('/sticky')).flags).toEqual({ immutable: true, appendOnly: false });
      expect((await vfs.lstat('/owned')).flags).toEqual({ immutable: false, appendOnly: false });
      expect(await vfs.flags('/locked')).toEqual({ immutable: true, appendOnly: false });
      expect((await vfs.readFile('/locked')).toString()).toBe('do not touch\n');
    } finally {
      await source.close();
    }
  });

  it('has no creation time or nanoseconds in 128-byte inodes', async () => {
    const small = await makeExt4Image(tree, path.join(scratch, 'stat128.img'), { sizeMiB: 64, blockSize: 4096, inodeSize: 128 });
    const { vfs, source } = await openImage(small);
    try {
      const st = await vfs.lstat('/owned');
      expect(st.crtime).toBeUndefined();
      expect(st.mtime).toBe(1_234_567_890);
      expect([st.uid, st.gid]).toEqual([100_000, 200_000]);
    } finally {
      await source.close();
    }
  });

  it.each([
    ['extents, 4K', { sizeMiB: 64, blockSize: 4096 }],
    ['triple indirect, 1K', { sizeMiB: 64, blockSize: 1024, features: '^extents,^64bit' }],
  ] as Array<[string, Ext4ImageOptions]>)('reads a sparse file past 4 GiB (%s)', async (name, options) => {
    const img = await makeExt4Image(tree, path.join(scratch, `huge-${slug(name)}.img`), options);
    const { vfs, source } = await openImage(img);
    try {
      expect((await vfs.stat('/huge.bin')).size).toBe(hugeSize);
      expect((await vfs.readFile('/huge.bin', { maxBytes: 5 })).toString()).toBe('start');
      expect((await vfs.readFile('/huge.bin', { offset: hugeMarkerAt - 3, maxBytes: 23 })).toString('latin1')).toBe('\0\0\0marker past 4 GiB\0\0\0');
      expect((await vfs.readFile('/huge.bin', { offset: hugeSize - 10, maxBytes: 100 })).toString('latin1')).toBe('\0'.repeat(7) + 'end');
      expect((await vfs.readFile('/huge.bin', { offset: 3 * 2 ** 30, maxBytes: 1 << 20 })).equals(Buffer.alloc(1 << 20))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('reads unwritten (preallocated) extents as zeros, whatever their blocks hold', async () => {
    const img = path.join(scratch, 'prealloc.img');
    await writeFile(img, await readFile(image));
    await debugfs(img, 'fallocate /prealloc 2 9', true);
    await debugfs(img, 'set_inode_field /prealloc size 40960', true);
    const ex = await debugfs(img, 'ex /prealloc');
    const m = /(\d+) - +(\d+) +(\d+) - +(\d+) +\d+ Uninit/.exec(ex);
    expect(m, ex).not.toBeNull();
    // Fill the unwritten blocks with garbage: only the extent flag says they are zeros.
    const fh = await open(img, 'r+');
    await fh.write(Buffer.alloc((Number(m![4]) - Number(m![3]) + 1) * 4096, 0xee), 0, undefined, Number(m![3]) * 4096);
    await fh.close();
    const { vfs, source } = await openImage(img);
    try {
      const got = await vfs.readFile('/prealloc');
      expect(got.length).toBe(40960);
      expect(got.subarray(0, 10_000).equals(Buffer.alloc(10_000, 0x41))).toBe(true);
      expect(got.subarray(10_000).equals(Buffer.alloc(40960 - 10_000))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it.each([1024, 4096])('reads a fast symlink that also has an extended-attribute block (%i-byte blocks)', async (blockSize) => {
    const img = await makeExt4Image(tree, path.join(scratch, `ea-link-${blockSize}.img`), { sizeMiB: 64, blockSize, inodeSize: 128 });
    // 128-byte inodes have no room for attributes: the attribute goes to a block of its own.
    await debugfs(img, 'ea_set /short-link user.note hello', true);
    expect(await debugfs(img, 'stat /short-link')).toMatch(/File ACL: [1-9]/);
    const { vfs, source } = await openImage(img);
    try {
      expect(await vfs.readlink('/short-link')).toBe('abc');
    } finally {
      await source.close();
    }
  });
});

describe('inline data', () => {
  it('reads files, a directory and a symlink stored inside their inodes', async () => {
    const tree = path.join(scratch, 'inline-tree');
    await mkdir(path.join(tree, 'small-dir'), { recursive: true });
    await writeFile(path.join(tree, 'small-dir/a'), 'A');
    await writeFile(path.join(tree, 'small-dir/b'), 'B');
    await writeFile(path.join(tree, 'tiny'), 'ten bytes!');
    await writeFile(path.join(tree, 'hundred'), Buffer.from('0123456789'.repeat(10)));
    await symlink('/' + 'l'.repeat(99), path.join(tree, 'inline-link'));
    const img = await makeExt4Image(tree, path.join(scratch, 'inline.img'), { sizeMiB: 32, blockSize: 4096, features: 'inline_data' });
    for (const p of ['/small-dir', '/tiny', '/hundred', '/inline-link']) {
      expect(await debugfs(img, `stat ${p}`), p).toMatch(/Flags: 0x10000000/);
    }
    const { vfs, fs, source } = await openImage(img);
    try {
      expect((await vfs.readdir('/small-dir')).map((e) => e.name).sort()).toEqual(['a', 'b']);
      expect((await vfs.readFile('/small-dir/b')).toString()).toBe('B');
      expect((await vfs.readFile('/tiny')).toString()).toBe('ten bytes!');
      expect((await vfs.readFile('/hundred')).toString()).toBe('0123456789'.repeat(10));
      expect((await fs.read((await vfs.lstat('/hundred')).ino, 55, 10)).toString()).toBe('5678901234');
      expect(await vfs.readlink('/inline-link')).toBe('/' + 'l'.repeat(99));
    } finally {
      await source.close();
    }
  });
});

describe('group descriptors', () => {
  // 392 MiB of 1 KiB blocks is 49 groups; with 16 or 32 descriptors per block the meta
  // groups start at 16, 32 and 48, and 48 is the last group, where sparse_super2 keeps a backup.
  it.each([
    ['4K, flex_bg', { sizeMiB: 128, blockSize: 4096 }],
    ['1K, 64-bit descriptors, resize inode', { sizeMiB: 392, blockSize: 1024 }],
    ['1K, no flex_bg, 32-bit descriptors', { sizeMiB: 392, blockSize: 1024, features: '^flex_bg,^64bit' }],
    ['1K meta_bg', { sizeMiB: 392, blockSize: 1024, features: 'meta_bg,^resize_inode' }],
    ['1K meta_bg, 32-bit descriptors', { sizeMiB: 392, blockSize: 1024, features: 'meta_bg,^resize_inode,^64bit' }],
    ['1K meta_bg, a backup in every group', { sizeMiB: 392, blockSize: 1024, features: 'meta_bg,^resize_inode,^sparse_super' }],
    ['1K meta_bg, sparse_super2', { sizeMiB: 392, blockSize: 1024, features: 'meta_bg,^resize_inode,sparse_super2' }],
    ['2K meta_bg', { sizeMiB: 392, blockSize: 2048, features: 'meta_bg,^resize_inode,^64bit' }],
    ['1K bigalloc meta_bg', { sizeMiB: 392, blockSize: 1024, features: 'meta_bg,^resize_inode,bigalloc' }],
  ] as Array<[string, Ext4ImageOptions]>)('finds every group\'s inode table where dumpe2fs does (%s)', async (name, options) => {
    const img = await makeExt4Image(undefined, path.join(scratch, `gd-${slug(name)}.img`), options);
    const { stdout } = await run('dumpe2fs', [img], { maxBuffer: 16 << 20 });
    const expected = [...stdout.matchAll(/^Group (\d+):[^]*?Inode table at (\d+)-/gm)].map((m) => [Number(m[1]), Number(m[2])]);
    const source = await FileByteSource.open(img);
    try {
      const sb = parseSuperblock(new BinaryView(await source.read(1024, 1024), 'ext4 superblock', 1024));
      expect(sb.groupCount).toBe(expected.length);
      const groups = new GroupDescriptors(sb, new BlockReader(source, sb.blockSize, sb.blocksCount));
      const ours: number[][] = [];
      for (let g = 0; g < sb.groupCount; g++) ours.push([g, (await groups.get(g)).inodeTable]);
      expect(ours).toEqual(expected);
    } finally {
      await source.close();
    }
  });
});

describe('64 KiB blocks', () => {
  it('skips a directory record spanning a whole block, stored as rec_len 65535 or 0', async () => {
    const tree = path.join(scratch, 'wide-tree');
    await mkdir(path.join(tree, 'd'), { recursive: true });
    for (let i = 0; i < 3000; i++) await writeFile(path.join(tree, 'd', `file-number-${i}-abcdefgh`), '');
    // Linear (no e2fsck -D) and without checksum tails, so the second block starts with a plain entry.
    const img = await makeExt4Image(tree, path.join(scratch, 'wide.img'), { sizeMiB: 128, blockSize: 65536, inodes: 8192, features: '^metadata_csum' });
    const blocks = (await debugfs(img, 'blocks /d')).trim().split(/\s+/).map(Number);
    expect(blocks.length).toBe(2);
    const bytes = await readFile(img);
    for (const raw of [65535, 0]) {
      // What e2fsprogs leaves when every name in the block is unlinked: one empty record of 65536 bytes.
      const copy = Buffer.from(bytes);
      copy.writeUInt32LE(0, blocks[1]! * 65536);
      copy.writeUInt16LE(raw, blocks[1]! * 65536 + 4);
      const patched = path.join(scratch, `wide-${raw}.img`);
      await writeFile(patched, copy);
      const theirs = (await debugfs(patched, 'ls -p /d'))
        .split('\n')
        .map((l) => l.split('/'))
        .filter((f) => f.length > 5 && f[1] !== '0' && f[5] !== '.' && f[5] !== '..') // debugfs shows empty records as inode 0
        .map((f) => f[5]!);
      const { vfs, source } = await openImage(patched);
      try {
        const ours = (await vfs.readdir('/d')).map((e) => e.name);
        expect(ours.length).toBeGreaterThan(100);
        expect(ours.length).toBeLessThan(3000);
        expect(ours.sort()).toEqual(theirs.sort());
      } finally {
        await source.close();
      }
    }
  });
});

describe('casefolded directories', () => {
  it('lists a case-insensitive hash-tree directory by reading it linearly', async () => {
    const tree = path.join(scratch, 'casefold-tree');
    await mkdir(path.join(tree, 'Folded'), { recursive: true });
    const names = Array.from({ length: 1500 }, (_, i) => `Entry-${i}-ÄÖü`);
    for (const name of names) await writeFile(path.join(tree, 'Folded', name), name);
    const img = await makeExt4Image(tree, path.join(scratch, 'casefold.img'), { sizeMiB: 64, blockSize: 4096, features: 'casefold' });
    await addInodeFlags(img, '/Folded', 0x40000000);
    await run('e2fsck', ['-fyD', img]).catch((err: { code?: number }) => {
      if (err.code !== 1) throw err;
    });
    expect(await debugfs(img, 'stat /Folded')).toMatch(/Flags: 0x4\d*1\d{3}/);
    const { vfs, source } = await openImage(img);
    try {
      expect((await vfs.readdir('/Folded')).map((e) => e.name).sort()).toEqual([...names].sort());
      expect((await vfs.readFile('/Folded/Entry-7-ÄÖü')).toString()).toBe('Entry-7-ÄÖü');
    } finally {
      await source.close();
    }
  });
});

describe('notes', () => {
  it('says when the journal needs recovery, the filesystem has errors or was not unmounted cleanly', async () => {
    const img = await makeExt4Image(undefined, path.join(scratch, 'notes.img'), { sizeMiB: 16 });
    let opened = await openImage(img);
    expect(opened.fs.notes()).toEqual([]);
    await opened.source.close();

    await debugfs(img, 'feature needs_recovery', true);
    await debugfs(img, 'ssv state 2', true);
    opened = await openImage(img);
    expect(opened.fs.notes()).toEqual([
      'ext4 journal needs recovery (needs_recovery flag set); the journal was not replayed, recent changes may be missing',
      'ext4 filesystem is marked as having errors (s_state); the kernel found inconsistencies, some metadata may be damaged',
    ]);
    await opened.source.close();

    const ext2 = await makeExt4Image(undefined, path.join(scratch, 'notes2.img'), { sizeMiB: 16, type: 'ext2' });
    await debugfs(ext2, 'ssv state 0', true);
    opened = await openImage(ext2);
    expect(opened.fs.notes()).toEqual(['ext2 filesystem was not cleanly unmounted (s_state); recent changes may be incomplete']);
    await opened.source.close();
  });
});

describe('against other readers', () => {
  // CI installs Sleuth Kit (images/install-tools.sh): there a missing fls must fail, not skip.
  it.runIf(HAS_FLS || process.env.CI !== undefined)('lists what Sleuth Kit fls -r -p lists, with the same inode numbers and types', async () => {
    const tree = path.join(scratch, 'fls-tree');
    await writeTree(tree, sampleTree());
    const img = await makeExt4Image(tree, path.join(scratch, 'fls.img'), { sizeMiB: 96, blockSize: 4096, htree: true });
    const { stdout } = await run('fls', ['-r', '-p', img], { maxBuffer: 64 << 20 });
    const letters: Record<string, string> = { file: 'r', directory: 'd', symlink: 'l', fifo: 'p' };
    const theirs = stdout
      .split('\n')
      // Names marked "*" are deleted or stale entries (e2fsck -D leaves some behind); not part of the tree.
      .filter((l) => l && !/^\S\/\S \* /.test(l) && !l.includes('$OrphanFiles'))
      .map((l) => {
        const m = /^(\S)\/\S \*? ?(\d+)(?:\([^)]*\))?:\t(.*)$/.exec(l);
        if (!m) throw new Error(`unexpected fls line: ${l}`);
        return `${m[1]} ${m[2]} /${m[3]}`;
      })
      .filter((l) => !skipLostFound(l.split(' ').slice(2).join(' ')))
      .sort();
    const { vfs, source } = await openImage(img);
    try {
      const ours: string[] = [];
      for await (const e of vfs.walk(['/**'])) {
        if (!skipLostFound(e.path)) ours.push(`${letters[e.stat.type] ?? '?'} ${e.stat.ino} ${e.path}`);
      }
      expect(ours.sort()).toEqual(theirs);
    } finally {
      await source.close();
    }
  });

  it('reads a debootstrapped Debian root like the tree it came from', async () => {
    const img = await makeExt4Image(DEBIAN_ROOT, path.join(scratch, 'debian.img'), { sizeMiB: 1024, blockSize: 4096 });
    const counter = { bytesRead: 0 };
    const { vfs, source } = await openImage(img, counter);
    try {
      const ours = await vfsTree(vfs, skipLostFound);
      const theirs = await hostTree(DEBIAN_ROOT);
      expect(sorted(ours)).toEqual(sorted(theirs));
      // Each file's data is read once; besides it only metadata (inode tables, directories,
      // extent trees) and the rest of each file's last 4 KiB block: about 40 MiB on this root.
      const fileBytes = [...theirs.values()].reduce((n, e) => n + (e.type === 'file' ? e.size ?? 0 : 0), 0);
      expect(counter.bytesRead - fileBytes).toBeLessThan(64 << 20);
    } finally {
      await source.close();
    }
  }, 300_000);
});
