/**
 * Runs checks over a host directory tree the way `minescan scan DIR` would, for check tests.
 */
import { expect } from 'vitest';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import type { Check } from '../../src/engine/check.js';
import { runChecks, type CheckRunResult } from '../../src/engine/run-checks.js';
import { RuleSet } from '../../src/rules/ruleset.js';
import type { HashLookup } from '../../src/hashes/hash-list.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';

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

/** Scans a tree of hostile files, which must end within `maxMs`: junk must neither crash nor stall a check. */
export async function scanHostile(root: string, checks: readonly Check[], maxMs: number): Promise<CheckRunResult> {
  const started = Date.now();
  const result = await scanDirectory(root, checks);
  expect(Date.now() - started).toBeLessThan(maxMs);
  return result;
}
