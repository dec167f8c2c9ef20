/**
 * Which platform a root is judged as (src/facts/windows/platform.ts) and that the engine
 * runs only the checks made for it: a Windows root (its hives found whatever their
 * case) gets the Windows checks and none of the Linux ones, even when it holds Linux
 * persistence files; a Linux root, or a tree with a Windows folder but no hives, gets
 * the Linux checks as before; the verdict and its evidence are in the result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { Check } from '../../src/model/check.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantFiles } from '../helpers/planted-tree.js';
import { caselessGlob, findCaseless } from '../../src/facts/windows/caseless.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { cronCheck } from '../../src/checks/cron.js';
import { compileGlob } from '../../mountfs/glob.js';

/** A check that records that it ran, for each platform. */
function marker(id: string, platforms?: Check['platforms']): { check: Check; ran: () => boolean } {
  let ran = false;
  return { check: { id, description: 'test marker', paths: [], ...(platforms ? { platforms } : {}), run: async () => void (ran = true) }, ran: () => ran };
}

const CRON_MINER = '*/5 * * * * root /tmp/.x/xmrig -o pool.supportxmr.com:3333\n';

describe('platform of a scanned root', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-platform-');
    await plantFiles(path.join(scratch, 'windows'), {
      'Windows/System32/config/SYSTEM': 'regf',
      'Windows/System32/config/SOFTWARE': 'regf',
      // Linux persistence on a Windows volume runs nowhere: the Linux checks must not judge it.
      'etc/cron.d/x': CRON_MINER,
    });
    await plantFiles(path.join(scratch, 'windows-upper'), { 'WINDOWS/system32/CONFIG/software': 'regf' });
    await plantFiles(path.join(scratch, 'linux'), { 'etc/cron.d/x': CRON_MINER, 'etc/os-release': 'ID=debian\n' });
    // A Windows folder without hives (a backup, a Wine prefix's look-alike) is no Windows root.
    await plantFiles(path.join(scratch, 'not-windows'), { 'Windows/System32/config/notes.txt': 'x', 'Windows/System32/config/SYSTEM/dir/x': 'x' });
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  async function judge(root: string) {
    const linux = marker('linux-marker');
    const windows = marker('windows-marker', ['windows']);
    const both = marker('both-marker', ['linux', 'windows']);
    const result = await scanDirectory(path.join(scratch, root), [linux.check, windows.check, both.check, cronCheck]);
    return { result, linux: linux.ran(), windows: windows.ran(), both: both.ran() };
  }

  it('runs the Windows checks and none of the Linux ones on a Windows root', async () => {
    const { result, linux, windows, both } = await judge('windows');
    expect(result.platform).toEqual({ platform: 'windows', evidence: '/Windows/System32/config/SYSTEM' });
    expect({ linux, windows, both }).toEqual({ linux: false, windows: true, both: true });
    expect(result.findings).toEqual([]);
  });

  it('finds the hives whatever their case', async () => {
    const { result, windows } = await judge('windows-upper');
    expect(result.platform).toEqual({ platform: 'windows', evidence: '/WINDOWS/system32/CONFIG/software' });
    expect(windows).toBe(true);
  });

  it('runs the Linux checks, as before, on a Linux root and on a Windows folder without hives', async () => {
    for (const root of ['linux', 'not-windows']) {
      const { result, linux, windows, both } = await judge(root);
      expect(result.platform?.platform).toBe('linux');
      expect({ linux, windows, both }).toEqual({ linux: true, windows: false, both: true });
    }
    const { result } = await judge('linux');
    expect(result.findings.map((f) => f.rule)).toContain('command.miner');
  });

  it('resolves paths and globs ignoring case', async () => {
    const vfs = new RawVfs(await DirectoryFileSystem.open(path.join(scratch, 'windows-upper')));
    try {
      expect(await findCaseless(vfs, '/Windows/System32/config/SOFTWARE')).toBe('/WINDOWS/system32/CONFIG/software');
      expect(await findCaseless(vfs, '/Windows/System32/Tasks')).toBeUndefined();
    } finally {
      await vfs.close();
    }
    const glob = compileGlob(caselessGlob('/Windows/System32/Tasks/**'));
    expect(glob.matches('/WINDOWS/system32/tasks/Microsoft/x')).toBe(true);
    expect(glob.matches('/Windows/System32/Task/x')).toBe(false);
  });
});
