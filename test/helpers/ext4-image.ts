/**
 * ext2/3/4 images for tests, made by the real tools (mkfs.ext4 -d copies a host tree
 * into a new filesystem; debugfs -w edits inodes and flags afterwards), plus the random
 * source trees the property tests build them from and a byte source that counts what
 * the reader asks for. Scratch space comes from os.tmpdir(): nothing here needs host
 * inode flags, those are set inside the image with debugfs.
 */
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';

const run = promisify(execFile);

export interface Ext4ImageOptions {
  sizeMiB: number;
  /** mkfs.ext2, mkfs.ext3 or mkfs.ext4 (default). */
  type?: 'ext2' | 'ext3' | 'ext4';
  blockSize?: number;
  /** The -O list, e.g. "^extents,^64bit" or "inline_data". */
  features?: string;
  inodeSize?: number;
  /** -N: how many inodes, for layouts whose default ratio gives too few. */
  inodes?: number;
  /** Anything else for mkfs, e.g. ["-r", "0"] for a revision 0 filesystem. */
  extraArgs?: string[];
  /**
   * Run e2fsck -fyD afterwards: mkfs -d writes every directory linearly, and -D is what
   * turns the large ones into hash-tree (htree) directories.
   */
  htree?: boolean;
}

/** Runs mkfs.<type> -q -F [-d srcDir] ... outFile <size>M and returns outFile. */
export async function makeExt4Image(srcDir: string | undefined, outFile: string, options: Ext4ImageOptions): Promise<string> {
  const args = ['-q', '-F'];
  if (options.blockSize) args.push('-b', String(options.blockSize));
  if (options.features) args.push('-O', options.features);
  if (options.inodeSize) args.push('-I', String(options.inodeSize));
  if (options.inodes) args.push('-N', String(options.inodes));
  if (options.extraArgs) args.push(...options.extraArgs);
  if (srcDir) args.push('-d', srcDir);
  args.push(outFile, `${options.sizeMiB}M`);
  await run(`mkfs.${options.type ?? 'ext4'}`, args, { maxBuffer: 16 << 20 });
  if (options.htree) {
    // Exit status 1 means "filesystem modified", which is the point here.
    await run('e2fsck', ['-fyD', outFile], { maxBuffer: 16 << 20 }).catch((err: { code?: number }) => {
      if (err.code !== 1) throw err;
    });
  }
  return outFile;
}

/** debugfs -R <request> (with -w when `write`); returns its standard output. */
export async function debugfs(image: string, request: string, write = false): Promise<string> {
  const { stdout } = await run('debugfs', [...(write ? ['-w'] : []), '-R', request, image], { maxBuffer: 64 << 20 });
  return stdout;
}

/** Where debugfs says an inode's record lies: absolute byte offset in the image. */
export async function inodeOffset(image: string, file: string, blockSize: number): Promise<number> {
  const out = await debugfs(image, `imap ${file}`);
  const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`debugfs imap ${file}: ${out}`);
  return Number(m[1]) * blockSize + parseInt(m[2]!, 16);
}

export async function hasCommand(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

export async function makeScratch(prefix = 'minescan-ext4-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeScratch(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}


// ---- random source trees -------------------------------------------------------------

/** Name characters: ASCII, 2-byte and 3-byte UTF-8; never "/" or NUL. */
const NAME_CHARS = [...'abcdefghijklmnopqrstuvwxyzABC0123456789-_.~ +=@', 'ä', 'ö', 'ß', 'é', 'ñ', 'Ж', 'λ', '日', '本', '語', '€'];

export type FileKind = 'empty' | 'tiny' | 'small' | 'random' | 'zeroes' | 'sparse';

export interface TreeSpec {
  /** Nesting of the deep chain of directories. */
  depth: number;
  /** Extra directories: name and index of the parent among the directories made before. */
  dirs: Array<{ name: string; parent: number }>;
  files: Array<{ name: string; dir: number; kind: FileKind; size: number }>;
  links: Array<{ name: string; dir: number; target: string }>;
  /** Entries of the one large (hash-tree) directory. */
  bigDirEntries: number;
  seed: number;
}

const nameArb = fc
  .string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 40 })
  .filter((s) => s !== '.' && s !== '..');

const targetArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...NAME_CHARS, '/', '/', '..'), minLength: 1, maxLength: 50 }),
  fc.string({ unit: fc.constantFrom(...NAME_CHARS, '/'), minLength: 61, maxLength: 300 }),
);

export const treeSpecArb: fc.Arbitrary<TreeSpec> = fc.record({
  depth: fc.integer({ min: 10, max: 40 }),
  dirs: fc.array(fc.record({ name: nameArb, parent: fc.nat() }), { maxLength: 8 }),
  files: fc.array(
    fc.record({
      name: nameArb,
      dir: fc.nat(),
      kind: fc.constantFrom<FileKind>('empty', 'tiny', 'small', 'random', 'random', 'zeroes', 'sparse'),
      size: fc.integer({ min: 1, max: 300_000 }),
    }),
    { minLength: 5, maxLength: 40 },
  ),
  links: fc.array(fc.record({ name: nameArb, dir: fc.nat(), target: targetArb }), { maxLength: 10 }),
  bigDirEntries: fc.integer({ min: 3000, max: 3600 }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

export interface WriteTreeOptions {
  /**
   * Let files end in zero blocks or a hole. mke2fs 1.47.0 -d with inline_data stores
   * such files with i_size cut to their last data block, so those trees avoid them.
   */
  trailingZeros?: boolean;
}

/** Unique within a directory: an index prefix, cut to 255 bytes on a character boundary. */
function entryName(i: number, name: string): string {
  let s = `${i}-${name}`;
  while (Buffer.byteLength(s) > 255) s = s.slice(0, -1);
  return s;
}

/** Deterministic bytes (xorshift32), far faster than crypto for megabytes of test data. */
function pseudoRandom(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, size);
}

/**
 * Writes the tree: the random parts of `spec` plus fixed parts every tree has (255-byte
 * ASCII and multi-byte names, a file over 1 MiB, a sparse file, an empty file, symlinks
 * of 59, 60 and 61+ bytes, a FIFO, the large directory).
 */
export async function writeTree(root: string, spec: TreeSpec, options: WriteTreeOptions = {}): Promise<void> {
  const trailingZeros = options.trailingZeros ?? true;
  await mkdir(root, { recursive: true });
  const dirs = [root];
  let deep = root;
  for (let i = 0; i < spec.depth; i++) deep = path.join(deep, `level${i}`);
  await mkdir(deep, { recursive: true });
  dirs.push(deep);
  for (const [i, d] of spec.dirs.entries()) {
    const dir = path.join(dirs[d.parent % dirs.length]!, entryName(i, d.name));
    await mkdir(dir);
    dirs.push(dir);
  }

  const fileBytes = (kind: FileKind, size: number, seed: number): Buffer => {
    switch (kind) {
      case 'empty':
        return Buffer.alloc(0);
      case 'tiny':
        return pseudoRandom(1 + (size % 59), seed);
      case 'small':
        return pseudoRandom(60 + (size % 140), seed);
      case 'random':
        return pseudoRandom(size, seed);
      default: {
        // Mostly zeros with a byte every 4-128 KiB: whole zero blocks that mkfs leaves as holes.
        const stride = 4096 << (seed % 6);
        const buf = Buffer.alloc(size);
        const marks = pseudoRandom(Math.ceil(size / stride), seed);
        for (let j = 0; j < marks.length; j++) buf[j * stride] = marks[j]! | 1;
        if (!trailingZeros) buf[size - 1] = 0x5a;
        return buf;
      }
    }
  };

  for (const [i, f] of spec.files.entries()) {
    const file = path.join(dirs[f.dir % dirs.length]!, entryName(i, f.name) + '.f');
    if (f.kind === 'sparse') await writeSparse(file, f.size, spec.seed + i, trailingZeros);
    else await writeFile(file, fileBytes(f.kind, f.size, spec.seed + i));
  }
  for (const [i, l] of spec.links.entries()) {
    await symlink(l.target, path.join(dirs[l.dir % dirs.length]!, entryName(i, l.name) + '.l'));
  }

  // The fixed parts.
  await writeFile(path.join(root, 'n'.repeat(255)), 'long ascii name\n');
  await writeFile(path.join(root, 'é'.repeat(127) + 'x'), 'long two-byte name\n');
  await writeFile(path.join(deep, '日'.repeat(85)), 'long three-byte name, deep\n');
  await writeFile(path.join(root, 'empty'), '');
  await writeFile(path.join(root, 'big.bin'), pseudoRandom((1 << 20) + 12345 + (spec.seed % 100_000), spec.seed));
  await writeSparse(path.join(root, 'sparse.bin'), 6 << 20, spec.seed, trailingZeros);
  await writeFragmented(path.join(root, 'fragmented.bin'), spec.seed);
  await symlink('big.bin', path.join(root, 'fast-link'));
  await symlink('t'.repeat(59), path.join(root, 'link-59'));
  await symlink('t'.repeat(60), path.join(root, 'link-60'));
  await symlink('/' + 'slow/'.repeat(30) + 'target', path.join(root, 'slow-link'));
  await symlink('../'.repeat(spec.depth) + 'big.bin', path.join(deep, 'climb'));
  await run('mkfifo', [path.join(root, 'fifo')]);
  const big = path.join(root, 'big-dir');
  await mkdir(big);
  // Created 64 at a time: thousands of one-by-one creates dominate the cost of a tree.
  for (let i = 0; i < spec.bigDirEntries; i += 64) {
    const batch = Array.from({ length: Math.min(64, spec.bigDirEntries - i) }, (_, k) => i + k);
    await Promise.all(batch.map((j) => writeFile(path.join(big, `entry-${j}-${'x'.repeat(j % 40)}`), '')));
  }
}

/**
 * 1 KiB of data every 8 KiB over 12 MiB, written around real holes: 1536 extents, which
 * take an extent tree of depth 2 with 1-4 KiB blocks.
 */
export async function writeFragmented(file: string, seed: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const piece = pseudoRandom(1024, seed);
    for (let at = 0; at < 12 << 20; at += 8192) {
      piece.writeUInt32LE(at, 0);
      await fh.write(piece, 0, piece.length, at);
    }
  } finally {
    await fh.close();
  }
}

/** Data islands around holes: at 0, past 1 MiB and near the end; a trailing hole when allowed. */
async function writeSparse(file: string, size: number, seed: number, trailingHole: boolean): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const island = pseudoRandom(3000, seed);
    await fh.write(island, 0, island.length, 0);
    if (size > (1 << 20) + 8192) await fh.write(island, 0, island.length, (1 << 20) + 1234);
    const tailAt = Math.max(island.length, size - island.length);
    await fh.write(island, 0, island.length, tailAt);
    if (trailingHole) await fh.truncate(tailAt + island.length + 100_000);
  } finally {
    await fh.close();
  }
}

export { CountingSource } from './buffer-source.js';
