/**
 * Runs checks over a host directory tree the way `minescan scan DIR` would, for check tests.
 */
import { expect } from 'vitest';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import type { Check } from '../../src/model/check.js';
import { runChecks, type CheckRunResult } from '../../src/engine/run-checks.js';
import { RuleSet } from '../../src/rules/ruleset.js';
import type { HashLookup } from '../../src/hashes/hash-list.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { CountingFileSystem, type FsCounts } from './counting-fs.js';

let rulesPromise: Promise<RuleSet> | undefined;

export function builtinRules(): Promise<RuleSet> {
  rulesPromise ??= RuleSet.load();
  return rulesPromise;
}

export async function scanDirectory(root: string, checks: readonly Check[], hashes: HashLookup = EMPTY_HASH_LIST): Promise<CheckRunResult> {
  const vfs = new RawVfs(await DirectoryFileSystem.open(root));
  try {
    return await runChecks(vfs, checks, { rules: await builtinRules(), hashes });
  } finally {
    await vfs.close();
  }
}

/** As scanDirectory, and what the scan asked of the tree (counting-fs.ts). */
export async function scanDirectoryCounting(root: string, checks: readonly Check[], hashes: HashLookup = EMPTY_HASH_LIST): Promise<{ result: CheckRunResult; counts: FsCounts }> {
  const fs = new CountingFileSystem(await DirectoryFileSystem.open(root));
  const vfs = new RawVfs(fs);
  try {
    const result = await runChecks(vfs, checks, { rules: await builtinRules(), hashes });
    return { result, counts: fs.counts };
  } finally {
    await vfs.close();
  }
}

/** The bytes of the regular files under a host directory; symlinks are not followed. */
async function treeBytes(root: string): Promise<number> {
  let bytes = 0;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) pending.push(p);
      else if (d.isFile()) bytes += (await lstat(p)).size;
    }
  }
  return bytes;
}

/**
 * Scans a tree of hostile files: junk must neither crash nor stall a check. A stall shows
 * in the counts, whatever the machine's speed: no byte of the tree is read more than
 * READ_PASSES times (no file is read again and again), and the scan stays within
 * `maxOperations` calls into the filesystem (a symlink cycle or an include loop is not
 * followed around). A hang that the counts cannot see is caught by the test's timeout.
 */
export async function scanHostile(root: string, checks: readonly Check[], { maxOperations }: { maxOperations: number }): Promise<CheckRunResult> {
  const bytes = await treeBytes(root);
  const { result, counts } = await scanDirectoryCounting(root, checks);
  expect(counts.bytesRead).toBeLessThanOrEqual(READ_PASSES * bytes);
  expect(counts.operations).toBeLessThanOrEqual(maxOperations);
  return result;
}

const READ_PASSES = 2;
