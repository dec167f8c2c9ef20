/**
 * The foundation's acceptance test: the planted tree of images/plant-infection.sh,
 * scanned as a GPT image, an MBR image, a bare filesystem and a mounted directory,
 * gives the same findings, every planted artifact is found with its family, and the
 * clean counterpart gives nothing of high or critical severity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import type { ScanReport } from '../../src/model/report.js';
import { severityRank, type Severity } from '../../src/model/finding.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { buildImage, IMMUTABLE_LIST, lockFiles, makeScratchDir, plantTree, removeScratchDir } from '../helpers/images.js';
import { createHash } from 'node:crypto';
import { buildLvmGptDisk } from '../helpers/lvm-disk.js';
import { xfsFromTreeByMount } from '../helpers/xfs-image.js';

interface Expected {
  path: string;
  line?: number;
  atLeast: Severity;
  family?: string;
  category?: RegExp;
}

/** One entry per planted artifact: where it is, how bad at least, and whose. */
const PLANTED: Expected[] = [
  { path: '/etc/passwd', atLeast: 'high', category: /account/ },
  { path: '/var/log/auth.log', atLeast: 'high', category: /account/ },
  { path: '/etc/crontab', line: 9, atLeast: 'high', category: /cron/ },
  { path: '/etc/cron.d/syslogd', line: 1, atLeast: 'high', family: 'outlaw' },
  { path: '/etc/cron.hourly/0', atLeast: 'high', category: /cron/ },
  { path: '/var/spool/cron/crontabs/root', line: 1, atLeast: 'high', family: 'outlaw' },
  { path: '/var/spool/cron/crontabs/root', line: 3, atLeast: 'high', category: /cron/ },
  { path: '/etc/systemd/system/A_li_yun_Duns.service', atLeast: 'high', family: 'aliyun-duns' },
  { path: '/lib/systemd/system/bot.service', atLeast: 'high', family: 'kinsing' },
  { path: '/etc/rc.local', atLeast: 'high' },
  { path: '/etc/ld.so.preload', atLeast: 'critical', family: 'kinsing' },
  { path: '/root/.ssh/authorized_keys', atLeast: 'high', family: 'outlaw' },
  { path: '/usr/bin/ps.original', atLeast: 'high' },
  { path: '/usr/bin/cleanfda', atLeast: 'high', family: 'cleanfda' },
  { path: '/usr/bin/kaudited', atLeast: 'high', family: 'skidmap' },
  { path: '/opt/sysetmd/sysetmd', atLeast: 'critical', category: /hash/ },
  // No family: found by behaviour and content.
  { path: '/usr/local/bin/backup-rotate', atLeast: 'critical', category: /miner/ },
  { path: '/etc/cron.d/backup-rotate', line: 1, atLeast: 'critical' },
  { path: '/var/tmp/.ICE-unix/.x/c.json', atLeast: 'high', category: /miner/ },
  { path: '/etc/hosts', line: 4, atLeast: 'high' },
  { path: '/var/www/html/uploads/2026/11/thumb.php', line: 1, atLeast: 'high' },
];

const LOCKED = ['/root/.ssh/authorized_keys', '/etc/cron.d/syslogd', '/etc/ld.so.preload'];

function missing(report: ScanReport): Expected[] {
  return PLANTED.filter(
    (e) =>
      !report.findings.some(
        (f) =>
          f.path === e.path &&
          (e.line === undefined || f.line === e.line) &&
          severityRank(f.severity) >= severityRank(e.atLeast) &&
          (e.family === undefined || f.family === e.family) &&
          (e.category === undefined || e.category.test(f.category)),
      ),
  );
}

function lockedReported(report: ScanReport): string[] {
  return LOCKED.filter((p) => report.findings.some((f) => f.path === p && /immutable/.test(f.rule)));
}

describe('planted artifacts', () => {
  let scratch: string;
  let infectedTree: string;
  let cleanTree: string;
  let hashList: string;
  const images: Record<string, string> = {};

  beforeAll(async () => {
    scratch = await makeScratchDir();
    infectedTree = await plantTree(path.join(scratch, 'infected'));
    cleanTree = await plantTree(path.join(scratch, 'clean'), true);
    const md5 = createHash('md5').update(await readFile(path.join(infectedTree, 'opt/sysetmd/sysetmd'))).digest('hex');
    hashList = path.join(scratch, 'miners.txt');
    await writeFile(hashList, `# published miner hashes\n${md5}  XMRig.sysetmd\n`);
    images.gpt = await buildImage(infectedTree, path.join(scratch, 'gpt.img'), { table: 'gpt', immutable: IMMUTABLE_LIST });
    images.mbr = await buildImage(infectedTree, path.join(scratch, 'mbr.img'), { table: 'mbr', immutable: IMMUTABLE_LIST });
    images.bare = await buildImage(infectedTree, path.join(scratch, 'bare.img'), { table: 'none', immutable: IMMUTABLE_LIST });
    images.clean = await buildImage(cleanTree, path.join(scratch, 'clean.img'), { table: 'gpt' });
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    images.targz = path.join(scratch, 'root.tar.gz');
    await promisify(execFile)('tar', ['-C', infectedTree, '-czf', images.targz, '.']);
    await lockFiles(infectedTree, LOCKED);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const scan = async (target: string) =>
    scanTarget(target, { checks: ALL_CHECKS, rules: await builtinRules(), hashes: await loadHashLists([hashList]) });

  it.each(['gpt', 'mbr', 'bare', 'directory'])('finds every planted artifact in a %s target', async (kind) => {
    const report = await scan(kind === 'directory' ? infectedTree : images[kind]!);
    expect(report.errors).toEqual([]);
    expect(missing(report)).toEqual([]);
    expect(lockedReported(report)).toEqual(LOCKED);
    expect(report.summary.critical).toBeGreaterThan(0);
    for (const f of report.findings) expect(f.remediation.length).toBeGreaterThan(0);
  });

  it('finds every planted artifact in a tar.gz of the root, read in one pass', async () => {
    const report = await scan(images.targz!);
    expect(report.source).toMatchObject({ format: 'tar+gzip' });
    expect(report.errors).toEqual([]);
    expect(missing(report)).toEqual([]);
    // A tar keeps no inode flags: only the image and directory scans can report them.
    const image = await scan(images.gpt!);
    const key = (r: ScanReport) => r.findings.filter((f) => !/immutable|locked/.test(f.rule)).map((f) => `${f.rule} ${f.path}:${f.line ?? ''}`).sort();
    expect(key(report)).toEqual(key(image));
  });

  it('finds every planted artifact in ext4 in LVM in GPT inside a VHDX', async () => {
    const { execFile } = await import('node:child_process');
    const run = (await import('node:util')).promisify(execFile);
    const fsImage = path.join(scratch, 'root.ext4');
    await run('mkfs.ext4', ['-q', '-F', '-d', infectedTree, fsImage, '24M']);
    const disk = await buildLvmGptDisk(fsImage, path.join(scratch, 'lvm.img'), `minescan${process.pid}`);
    const vhdx = path.join(scratch, 'lvm.vhdx');
    await run('qemu-img', ['convert', '-O', 'vhdx', disk, vhdx]);
    const report = await scan(vhdx);
    expect(report.source!.format).toBe('vhdx');
    expect(report.source!.volumes.map((v) => `${v.scheme}:${v.type}:${v.filesystem}:${v.scanned}`)).toEqual([
      'gpt:Linux LVM:LVM2_member:false',
      `lvm:minescan${process.pid}/root:ext4:true`,
    ]);
    expect(report.errors).toEqual([]);
    expect(missing(report)).toEqual([]);
  });

  it('finds every planted artifact in a streamOptimized VMDK inside an OVA', async () => {
    const { execFile } = await import('node:child_process');
    const run = (await import('node:util')).promisify(execFile);
    const dir = path.join(scratch, 'ova');
    await run('mkdir', ['-p', dir]);
    await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', images.gpt!, path.join(dir, 'web-disk1.vmdk')]);
    await writeFile(
      path.join(dir, 'web.ovf'),
      `<?xml version="1.0"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="web-disk1.vmdk" ovf:id="file1"/></References></Envelope>\n`,
    );
    const ova = path.join(scratch, 'web.ova');
    await run('tar', ['-C', dir, '--format=ustar', '-cf', ova, 'web.ovf', 'web-disk1.vmdk']);
    const report = await scan(ova);
    expect(report.source!.format).toBe('ova > vmdk');
    expect(report.source!.volumes).toEqual([expect.objectContaining({ scheme: 'gpt', filesystem: 'ext4', scanned: true, container: 'tar:web-disk1.vmdk > vmdk' })]);
    expect(report.errors).toEqual([]);
    expect(missing(report)).toEqual([]);
    expect(lockedReported(report)).toEqual(LOCKED);
  });

  it('finds every planted artifact in XFS in LVM in GPT inside a qcow2', async () => {
    const { execFile } = await import('node:child_process');
    const run = (await import('node:util')).promisify(execFile);
    const xfs = path.join(scratch, 'root.xfs');
    // The kernel writes the XFS (through a loop mount) and locks the attacker's files in it.
    await xfsFromTreeByMount(infectedTree, xfs, [], 96, async (mnt) => {
      for (const p of LOCKED) await run('chattr', ['+i', path.join(mnt, p)]);
    });
    const disk = await buildLvmGptDisk(xfs, path.join(scratch, 'lvm-xfs.img'), `minescanx${process.pid}`);
    const qcow2 = path.join(scratch, 'lvm-xfs.qcow2');
    await run('qemu-img', ['convert', '-O', 'qcow2', '-c', disk, qcow2]);
    const report = await scan(qcow2);
    expect(report.source!.format).toBe('qcow2');
    expect(report.source!.volumes.map((v) => `${v.scheme}:${v.filesystem}:${v.scanned}`)).toEqual(['gpt:LVM2_member:false', 'lvm:xfs:true']);
    expect(report.errors).toEqual([]);
    expect(missing(report)).toEqual([]);
    expect(lockedReported(report)).toEqual(LOCKED);
    const image = await scan(images.gpt!);
    const key = (r: ScanReport) => r.findings.map((f) => `${f.rule} ${f.path}:${f.line ?? ''}`).sort();
    expect(key(report)).toEqual(key(image));
  });

  it('reports the same findings whatever the container', async () => {
    const key = (r: ScanReport) => r.findings.map((f) => `${f.rule} ${f.path}:${f.line ?? ''}`).sort();
    const gpt = await scan(images.gpt!);
    const mbr = await scan(images.mbr!);
    const dir = await scan(infectedTree);
    expect(key(mbr)).toEqual(key(gpt));
    expect(key(dir)).toEqual(key(gpt));
  });

  it('lists the partition and its filesystem', async () => {
    const report = await scan(images.gpt!);
    expect(report.source).toMatchObject({ kind: 'image', format: 'raw' });
    expect(report.source!.volumes).toEqual([
      expect.objectContaining({ index: 1, scheme: 'gpt', start: 1 << 20, filesystem: 'ext4', scanned: true }),
    ]);
    const mbr = await scan(images.mbr!);
    expect(mbr.source!.volumes).toEqual([expect.objectContaining({ index: 1, scheme: 'mbr', start: 1 << 20, filesystem: 'ext4', scanned: true })]);
  });

  it.each(['clean image', 'clean directory'])('finds nothing high or critical in the %s', async (kind) => {
    const report = await scan(kind === 'clean image' ? images.clean! : cleanTree);
    const loud = report.findings.filter((f) => severityRank(f.severity) >= severityRank('high'));
    expect(loud).toEqual([]);
    expect(report.errors).toEqual([]);
  });

  it('reads a block device read-only, like the image it holds', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const run = promisify(execFile);
    const device = (await run('losetup', ['--read-only', '--find', '--show', images.gpt!])).stdout.trim();
    try {
      const report = await scan(device);
      expect(report.source).toMatchObject({ kind: 'block-device', format: 'raw' });
      expect(missing(report)).toEqual([]);
      const image = await scan(images.gpt!);
      expect(report.findings.map((f) => `${f.rule} ${f.path}`)).toEqual(image.findings.map((f) => `${f.rule} ${f.path}`));
    } finally {
      await run('losetup', ['--detach', device]);
    }
  });

  it('never changes a byte of the image', async () => {
    const digest = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
    const before = await digest(images.gpt!);
    await scan(images.gpt!);
    expect(await digest(images.gpt!)).toBe(before);
  });
});
