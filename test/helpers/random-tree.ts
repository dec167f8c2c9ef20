/**
 * Random file trees for property tests: deep paths, 255-byte and non-ASCII names,
 * short and long symlinks, sparse and large files, a directory of thousands of entries.
 */
import { mkdir, open, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789-_.ÄöüßéñЖ日本語';

export interface RandomTreeOptions {
  files?: number;
  bigDirEntries?: number;
  maxFileBytes?: number;
}

export async function writeRandomTree(root: string, seed: number, options: RandomTreeOptions = {}): Promise<void> {
  const rnd = prng(seed);
  const pick = (n: number) => Math.floor(rnd() * n);
  const name = (len: number) => {
    let s = '';
    while (Buffer.byteLength(s) < len) s += ALPHABET[pick(ALPHABET.length)];
    while (Buffer.byteLength(s) > len) s = s.slice(0, -1);
    return s === '.' || s === '..' ? 'x' + s : s;
  };
  await mkdir(root, { recursive: true });
  const dirs = [root];
  const deep = path.join(root, ...Array.from({ length: 12 }, (_, i) => `d${i}`));
  await mkdir(deep, { recursive: true });
  dirs.push(deep);
  for (let i = 0; i < 8; i++) {
    const d = path.join(dirs[pick(dirs.length)]!, name(1 + pick(20)) + `_${i}`);
    await mkdir(d, { recursive: true });
    dirs.push(d);
  }
  await writeFile(path.join(root, name(250) + '_L'), 'long name\n');
  const files = options.files ?? 60;
  for (let i = 0; i < files; i++) {
    const dir = dirs[pick(dirs.length)]!;
    const size = pick(options.maxFileBytes ?? 200_000);
    const buf = Buffer.alloc(size);
    for (let j = 0; j < size; j += 4096) buf[j] = pick(256);
    await writeFile(path.join(dir, `${name(1 + pick(30))}_f${i}`), buf);
  }
  await writeFile(path.join(root, 'empty'), '');
  const big = Buffer.alloc(3 << 20);
  for (let j = 0; j < big.length; j += 512) big.writeUInt32LE(j, j);
  await writeFile(path.join(root, 'big.bin'), big);
  const sparse = await open(path.join(root, 'sparse.bin'), 'w');
  await sparse.write(Buffer.from('head'), 0, 4, 0);
  await sparse.write(Buffer.from('tail'), 0, 4, 5 << 20);
  await sparse.close();
  await symlink('big.bin', path.join(root, 'short-link'));
  await symlink('/' + 'x/'.repeat(60) + 'target', path.join(root, 'long-link'));
  await symlink('../../../../etc/passwd', path.join(deep, 'climb'));
  const many = path.join(root, 'many');
  await mkdir(many);
  for (let i = 0; i < (options.bigDirEntries ?? 3000); i++) await writeFile(path.join(many, `entry-${i}-${name(6)}`), String(i));
}
