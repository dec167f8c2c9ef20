/**
 * The path work of a walk grows with the number of directories it enters, not with the
 * square of their depth: each level steps the globs by its own name instead of
 * splitting and matching its whole path again. Counted with `pathWork.components` (every
 * component split or matched) over a chain of N and 2N nested directories, on an ext4
 * image made by mkfs.ext4 -d and on the same tree as a directory target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openTarget } from '../../mountfs/open-target.js';
import { pathWork } from '../../mountfs/path.js';
import type { Vfs } from '../../mountfs/vfs.js';
import { makeExt4Image, makeScratch, removeScratch } from '../helpers/ext4-image.js';

const run = promisify(execFile);
/** 2N levels of "d/" stay well under PATH_MAX, which mkfs.ext4 -d needs for its full path names. */
const N = 400;
const GLOBS = ['/**/c.json', '/etc/*', '/home/*/.ssh/authorized_keys'];

let scratch: string;

/** root/tmp/d/d/…/c.json, `depth` directories named d, made with relative calls. */
async function deepTree(root: string, depth: number): Promise<string> {
  const script = `const fs = require('fs'); fs.mkdirSync(process.argv[1] + '/tmp', { recursive: true }); fs.mkdirSync(process.argv[1] + '/etc');
    fs.writeFileSync(process.argv[1] + '/etc/hostname', 'deep\\n'); process.chdir(process.argv[1] + '/tmp');
    for (let i = 0; i < ${depth}; i++) { fs.mkdirSync('d'); process.chdir('d'); }
    fs.writeFileSync('c.json', '{}');`;
  await run(process.execPath, ['-e', script, root]);
  return root;
}

/** Components of path work one walk and one lookup at the bottom cost, and what the walk found. */
async function measure(vfs: Vfs, depth: number): Promise<{ work: number; found: string[] }> {
  const before = pathWork.components;
  const found: string[] = [];
  for await (const e of vfs.walk(GLOBS)) found.push(e.path);
  const bottom = `/tmp${'/d'.repeat(depth)}/c.json`;
  expect((await vfs.stat(bottom)).size).toBe(2);
  return { work: pathWork.components - before, found };
}

const trees = new Map<number, string>();

beforeAll(async () => {
  scratch = await makeScratch('minescan-deep-walk-');
  for (const depth of [N, 2 * N]) trees.set(depth, await deepTree(path.join(scratch, `tree-${depth}`), depth));
});
afterAll(async () => {
  await removeScratch(scratch);
});

/** Linear: twice the depth costs about twice the work (a square would cost four times). */
function expectLinear(small: number, large: number) {
  expect(large).toBeGreaterThan(small);
  expect(large / small).toBeLessThan(2.3);
}

describe('path work of a walk through nested directories', () => {
  it('grows linearly with the depth on an ext4 image made by mkfs.ext4 -d', async () => {
    const work: number[] = [];
    for (const depth of [N, 2 * N]) {
      const image = await makeExt4Image(trees.get(depth)!, path.join(scratch, `deep-${depth}.img`), { sizeMiB: 16, inodes: 4096 });
      const target = await openTarget(image, { bytesRead: 0 }, { retain: ['/**'] });
      try {
        const { work: w, found } = await measure(target.filesystems[0]!.vfs, depth);
        expect(found).toEqual(['/etc/hostname', `/tmp${'/d'.repeat(depth)}/c.json`]);
        work.push(w);
      } finally {
        await target.close();
      }
    }
    expectLinear(work[0]!, work[1]!);
  }, 300_000);

  it('grows linearly with the depth on a directory target', async () => {
    const work: number[] = [];
    for (const depth of [N, 2 * N]) {
      const target = await openTarget(trees.get(depth)!, { bytesRead: 0 }, { retain: ['/**'] });
      try {
        const { work: w, found } = await measure(target.filesystems[0]!.vfs, depth);
        expect(found.sort()).toEqual(['/etc/hostname', `/tmp${'/d'.repeat(depth)}/c.json`]);
        work.push(w);
      } finally {
        await target.close();
      }
    }
    expectLinear(work[0]!, work[1]!);
  }, 300_000);
});
