/**
 * A miner hidden under thousands of nested directories: the VFS walk keeps its own
 * stack, so the depth of an attacker's tree can neither overflow the call stack nor
 * abort a check, and a bound it reaches is an `errors` entry of kind `limit`.
 * The ext4 tree is built with debugfs (mke2fs -d itself aborts on such a tree); the
 * host tree with relative mkdir calls in a child process (absolute paths that long
 * are refused by the kernel).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget } from '../../src/engine/scan.js';
import { minerFilesCheck } from '../../src/checks/miner-files.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { makeExt4Image } from '../helpers/ext4-image.js';
import { makeScratchDir } from '../helpers/images.js';
import { XMR_WALLET } from '../miners/elf-fixtures.js';

const run = promisify(execFile);
const DEPTH = 5000;
const CONFIG = `{ "donate-level": 0, "pools": [ { "url": "pool.hashvault.pro:443", "user": "${XMR_WALLET}", "pass": "x" } ] }\n`;
const deepPath = (depth: number) => `/tmp${'/d'.repeat(depth)}/c.json`;

let scratch: string;

/** `depth` directories named d below root/tmp, and c.json at the bottom, made with relative calls. */
async function hostTree(root: string, depth: number): Promise<void> {
  const script = `const fs = require('fs'); fs.mkdirSync(process.argv[1] + '/tmp', { recursive: true }); process.chdir(process.argv[1] + '/tmp');
    for (let i = 0; i < ${depth}; i++) { fs.mkdirSync('d'); process.chdir('d'); }
    fs.writeFileSync('c.json', process.argv[2]);`;
  await run(process.execPath, ['-e', script, root, CONFIG]);
}

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-deep-');
});
afterAll(async () => {
  // rm -rf walks with openat, so paths past PATH_MAX are no problem for it.
  if (scratch) await run('rm', ['-rf', scratch]);
});

describe('a miner under 5000 nested directories', () => {
  it('is found on an ext4 image', async () => {
    const empty = path.join(scratch, 'empty');
    await run('mkdir', ['-p', path.join(empty, 'tmp')]);
    const image = await makeExt4Image(empty, path.join(scratch, 'deep.img'), { sizeMiB: 64 });
    await writeFile(path.join(scratch, 'c.json'), CONFIG);
    const script = ['cd /tmp', ...Array.from({ length: DEPTH }, () => 'mkdir d\ncd d'), `write ${path.join(scratch, 'c.json')} c.json`].join('\n');
    await writeFile(path.join(scratch, 'debugfs.txt'), `${script}\n`);
    await run('debugfs', ['-w', '-f', path.join(scratch, 'debugfs.txt'), image], { maxBuffer: 64 << 20 });

    const report = await scanTarget(image, { checks: [minerFilesCheck], rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
    expect(report.findings.map((f) => [f.rule, f.path])).toEqual([['miner.config', deepPath(DEPTH)]]);
    expect(report.errors).toEqual([]);
  }, 120_000);

  it('is found in a mounted directory as deep as the host lets a path be', async () => {
    // 1900 levels: "/tmp/d/d/…/c.json" stays under the host's PATH_MAX of 4096 bytes.
    const root = path.join(scratch, 'host');
    await hostTree(root, 1900);
    const report = await scanTarget(root, { checks: [minerFilesCheck], rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
    expect(report.findings.map((f) => [f.rule, f.path])).toEqual([['miner.config', deepPath(1900)]]);
    expect(report.errors).toEqual([]);
  }, 120_000);
});

describe('walk bounds', () => {
  it('stops at maxDepth and says so as a limit error, going on with the rest of the tree', async () => {
    const root = path.join(scratch, 'bounded');
    await hostTree(root, 40);
    await writeFile(path.join(root, 'tmp', 'beside'), 'x');
    const vfs = new RawVfs(await DirectoryFileSystem.open(root));
    const errors: Array<[string, unknown]> = [];
    const seen: string[] = [];
    for await (const e of vfs.walk(['/**'], { maxDepth: 10, onError: (p, err) => errors.push([p, err]) })) seen.push(e.path);
    await vfs.close();
    expect(seen).toContain('/tmp/beside');
    // "/" is level 0 and "/tmp" level 1: the directory 11 levels down is listed, not entered.
    expect(seen).toContain(`/tmp${'/d'.repeat(10)}`);
    expect(seen).not.toContain(`/tmp${'/d'.repeat(11)}`);
    expect(errors).toHaveLength(1);
    const [where, err] = errors[0]!;
    expect(where).toBe(`/tmp${'/d'.repeat(10)}`);
    expect(err).toBeInstanceOf(MountfsError);
    expect(err).toMatchObject({ kind: 'limit', message: expect.stringMatching(/nested 11 levels deep, past the limit of 10; what it holds was not read/) });
  });

  it('reads at most maxDirEntries entries of one directory and reports the rest as unread', async () => {
    const root = path.join(scratch, 'wide');
    await run('mkdir', ['-p', path.join(root, 'etc')]);
    for (let i = 0; i < 50; i++) await writeFile(path.join(root, 'etc', `f${i}`), 'x');
    const vfs = new RawVfs(await DirectoryFileSystem.open(root));
    const errors: unknown[] = [];
    let files = 0;
    for await (const e of vfs.walk(['/etc/*'], { maxDirEntries: 20, onError: (_p, err) => errors.push(err) })) if (e.stat.type === 'file') files++;
    await vfs.close();
    expect(files).toBe(20);
    expect(errors).toEqual([expect.objectContaining({ kind: 'limit', message: expect.stringMatching(/\/etc has 50 entries; only the first 20 were read/) })]);
  });
});
