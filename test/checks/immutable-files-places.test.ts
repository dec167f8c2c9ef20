/**
 * The places immutable-files watches are the checks' own (Check.watched), not a copy
 * kept beside it: every persistence check declares its places, and a check that
 * declares a new one has it watched with no edit of immutable-files. The lock is made
 * with chattr on a host tree beside the test cache (tmpfs keeps no inode flags).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { immutableFilesCheck } from '../../src/checks/immutable-files.js';
import { platformsOf, watchedPlaces, type Check } from '../../src/model/check.js';
import { compileGlob } from '../../mountfs/glob.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';

const run = promisify(execFile);

describe('every persistence check says which places it keeps', () => {
  it('declares its watched places (empty only with a reason in the check: another check or the facts declare them)', () => {
    // chattr locks are Linux's, and immutable-files runs on Linux roots: the Windows checks keep no places for it.
    const undeclared = ALL_CHECKS.filter((c) => c.persistence && platformsOf(c).includes('linux') && c.watched === undefined).map((c) => c.id);
    expect(undeclared).toEqual([]);
  });

  it('each of its fixed files is in a watched place, unless it is read for what it says (a log) or found through the accounts (~/.ssh)', () => {
    const globs = watchedPlaces(ALL_CHECKS).flatMap((p) => p.globs.map(compileGlob));
    // Read for what they say, not places persistence lives in (logs, login.defs, DKMS's
    // module sources), or judged from the login homes (~/.ssh).
    const notAPlace = /^\/var\/log\/|^\/etc\/login\.defs$|^\/var\/lib\/dkms$|^\/root\/\.ssh\//;
    const missing: string[] = [];
    for (const check of ALL_CHECKS.filter((c) => c.persistence && (c.watched?.length ?? 0) > 0)) {
      const fixed = (typeof check.paths === 'function' ? [] : check.paths).filter((p) => !/[*?[{]/.test(p) && !notAPlace.test(p));
      for (const file of fixed) if (!globs.some((g) => g.matches(file)) && !globs.some((g) => g.matches(path.posix.dirname(file)))) missing.push(`${check.id}: ${file}`);
    }
    expect(missing).toEqual([]);
  });
});

describe('a place a check declares is watched', () => {
  let scratch: string;
  let root: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-watched-places-');
    root = path.join(scratch, 'root');
    await mkdir(path.join(root, 'etc/newplace'), { recursive: true });
    await writeFile(path.join(root, 'etc/newplace/job'), '* * * * * root /tmp/.x/run\n');
    await run('chattr', ['+i', path.join(root, 'etc/newplace/job')]);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const newCheck: Check = {
    id: 'new-place',
    description: 'a persistence place minescan did not read before',
    persistence: true,
    watched: [{ what: 'new persistence place', globs: ['/etc/newplace', '/etc/newplace/*'] }],
    paths: ['/etc/newplace/*'],
    async run() {},
  };

  it('a lock there is reported, named after the place, once the check declares it', async () => {
    const without = await scanDirectory(root, [immutableFilesCheck]);
    expect(without.findings).toEqual([]);
    const withIt = await scanDirectory(root, [immutableFilesCheck, newCheck]);
    expect(withIt.errors).toEqual([]);
    expect(withIt.findings.map((f) => [f.rule, f.path])).toEqual([['immutable.locked-file', '/etc/newplace/job']]);
    expect(withIt.findings[0]!.message).toContain('new persistence place');
  });
});
