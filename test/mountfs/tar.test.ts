/**
 * Uncompressed tar archives of a root, made by GNU tar in each of its formats, read at
 * random through the tar index: the listing and every file's MD5 equal the source tree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TarFileSystem } from '../../mountfs/fs/archive/tar-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { writeRandomTree } from '../helpers/random-tree.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);

async function openTar(file: string) {
  const source = await FileByteSource.open(file);
  return { vfs: new RawVfs(await TarFileSystem.open(source)), source };
}

describe('tar archives', () => {
  let scratch: string;
  let tree: string;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    tree = path.join(scratch, 'tree');
    await writeRandomTree(tree, 7, { bigDirEntries: 1500 });
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it.each([['gnu', ''], ['posix', ''], ['ustar-safe', ''], ['gnu', '--sparse'], ['posix', '--sparse']])('reads a %s archive %s like the source tree', async (format, extra) => {
    const out = path.join(scratch, `${format}${extra}.tar`);
    // ustar cannot hold the 250-byte name: leave it out for that format.
    const args = ['-C', tree, '-cf', out, `--format=${format === 'ustar-safe' ? 'ustar' : format}`, ...(extra ? [extra] : [])];
    if (format === 'ustar-safe') args.push('--exclude=*_L', '--exclude=long-link', '--exclude=d0');
    await run('tar', [...args, '.']);
    const { vfs, source } = await openTar(out);
    try {
      const expected = await hostTree(tree);
      if (format === 'ustar-safe') for (const k of [...expected.keys()]) if (/_L$|^\/long-link$|^\/d0/.test(k)) expected.delete(k);
      expect(sorted(await vfsTree(vfs))).toEqual(sorted(expected));
    } finally {
      await source.close();
    }
  });

  it('skips "../" names as GNU tar does, keeps absolute names inside the root and resolves hard links inside the archive', async () => {
    const src = path.join(scratch, 'escape');
    await run('mkdir', ['-p', `${src}/etc`]);
    await writeFile(`${src}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\n');
    await run('ln', [`${src}/etc/passwd`, `${src}/etc/passwd.hard`]);
    const out = path.join(scratch, 'escape.tar');
    await run('tar', ['-C', src, '-cf', out, '--transform', 's,^\\./etc/passwd$,../../../etc/evil,', '.']);
    await run('tar', ['-C', src, '-rPf', out, '/' + path.relative('/', `${src}/etc/passwd`)]);
    // GNU tar itself refuses the "../" member: "Member name contains '..'".
    const extracted = path.join(scratch, 'escape-out');
    await run('mkdir', ['-p', extracted]);
    await expect(run('tar', ['-C', extracted, '-xf', out])).rejects.toThrow(/Member name contains '\.\.'/);
    const source = await FileByteSource.open(out);
    const fs = await TarFileSystem.open(source);
    const vfs = new RawVfs(fs);
    try {
      expect(await vfs.exists('/etc/evil')).toBe(false);
      expect(fs.notes().join()).toMatch(/\.\.\/\.\.\/\.\.\/etc\/evil: a name with a "\.\." component is not extracted/);
      expect((await vfs.readFile('/etc/passwd.hard')).toString()).toBe('root:x:0:0::/root:/bin/sh\n');
      const absolute = path.posix.join('/', path.relative('/', `${src}/etc/passwd`));
      expect(await vfs.exists(absolute)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('rejects damaged archives with a typed error naming the offset', async () => {
    const good = path.join(scratch, 'gnu.tar');
    const bytes = (await import('node:fs/promises')).readFile;
    const data = await bytes(good);
    const badSum = Buffer.from(data);
    badSum[0] ^= 0xff;
    await writeFile(path.join(scratch, 'badsum.tar'), badSum);
    await expect(openTar(path.join(scratch, 'badsum.tar'))).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && e.offset === 0);
    const lying = Buffer.from(data.subarray(0, 1024));
    lying.write('77777777777', 124, 'latin1');
    // Fix the checksum so only the size lies.
    lying.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += lying[i]!;
    lying.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    await writeFile(path.join(scratch, 'lying.tar'), lying);
    await expect(openTar(path.join(scratch, 'lying.tar'))).rejects.toThrow(/past the end of the archive/);
  });
});
