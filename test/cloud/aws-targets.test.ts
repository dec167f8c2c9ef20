/**
 * AWS targets with the real SDK clients against a protocol-level fake on 127.0.0.1
 * (EBS direct APIs and the EC2 Query API) serving the planted-artifact disk image:
 * the pre-restore snapshot check, volume and instance flows that create, wait on and
 * delete snapshots, retries, checksum failures, and a run killed mid-scan.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { cli } from '../helpers/run-cli.js';
import { EbsSnapshotSource } from '../../cloud/aws/ebs-snapshot-source.js';
import { MountfsError } from '../../mountfs/errors.js';
import { REPO } from '../helpers/images.js';
import { awsScene } from '../helpers/aws-scene.js';
import { EBS_BLOCK, type FakeAws, type FakeAwsOptions } from '../helpers/fake-aws.js';

const SNAP = 'snap-0123456789abcdef0';


describe('AWS targets', () => {
  const scene = awsScene({ sizeMiB: 64, cleanMiB: 32, cleanTable: 'mbr' });

  const fake = (options: FakeAwsOptions = {}) =>
    scene.start({ snapshots: { [SNAP]: scene.infected }, volumes: { 'vol-infected': scene.infected, 'vol-clean': scene.clean }, instances: { 'i-web': ['vol-infected', 'vol-clean'] }, ...options });
  const scan = (target: string, f: FakeAws, ...extra: string[]) => cli(['scan', target, '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint, ...extra]);

  it('pre-restore check: finds the planted artifacts in a snapshot while fetching a fraction of its blocks', async () => {
    const f = await fake({ pageSize: 7 });
    const { code, stdout } = await scan(`aws:snapshot/${SNAP}`, f, '--fail-on', 'high');
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.source.kind).toBe('cloud-snapshot');
    expect(report.errors).toEqual([]);
    const families = new Set(report.findings.map((x: { family?: string }) => x.family).filter(Boolean));
    expect([...families].sort()).toEqual(['aliyun-duns', 'cleanfda', 'kinsing', 'outlaw', 'skidmap']);
    expect(report.findings.some((x: { rule: string; path: string }) => x.rule === 'immutable.locked-file' && x.path === '/etc/ld.so.preload')).toBe(true);
    const fetched = f.blockRequests.get(SNAP)!;
    expect(fetched.size).toBeGreaterThan(0);
    expect(fetched.size).toBeLessThan(f.listedBlocks.get(SNAP)! / 2);
    expect(report.stats.bytesRead).toBe(fetched.size * EBS_BLOCK);
    for (const n of fetched.values()) expect(n).toBe(1);
    expect(f.actions).toEqual([]);
  });

  it('volume: creates a tagged snapshot, waits for it, scans it and deletes it', async () => {
    const f = await fake();
    const { code, stdout } = await scan('aws:volume/vol-infected', f, '--fail-on', 'critical');
    expect(code).toBe(1);
    expect(JSON.parse(stdout).summary.critical).toBeGreaterThan(0);
    const made = [...f.snapshots.values()].filter((s) => s.volumeId === 'vol-infected');
    expect(made).toHaveLength(1);
    expect(made[0]!.tags).toMatchObject({ 'minescan:created-by': 'minescan', 'minescan:scan-id': expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(made[0]!.deleted).toBe(true);
    expect(f.actions.filter((a) => a === 'DescribeSnapshots').length).toBeGreaterThanOrEqual(3);
  });

  it('instance: scans every volume, keeps snapshots only when asked', async () => {
    const f = await fake();
    const { stdout } = await scan('aws:instance/i-web', f, '--keep-snapshots', '--fail-on', 'none');
    const report = JSON.parse(stdout);
    expect(report.source.volumes.map((v: { scheme: string; filesystem: string }) => `${v.scheme}:${v.filesystem}`)).toEqual(['gpt:ext4', 'mbr:ext4']);
    expect(report.findings.every((x: { volume?: number }) => x.volume !== undefined)).toBe(true);
    expect(new Set(report.findings.filter((x: { severity: string }) => x.severity === 'critical').map((x: { volume: number }) => x.volume))).toEqual(new Set([0]));
    const made = [...f.snapshots.values()].filter((s) => s.volumeId !== 'vol-unknown');
    expect(made).toHaveLength(2);
    expect(made.every((s) => !s.deleted)).toBe(true);
  });

  it('retries throttling and transient 500s', async () => {
    const f = await fake({ throttleFirst: 3, failNext: 2 });
    const { code, stdout } = await scan('aws:volume/vol-infected', f, '--fail-on', 'none');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).summary.critical).toBeGreaterThan(0);
  });

  it.each([
    ['a 500', false],
    ['a dropped connection', true],
  ])('a CreateSnapshot whose answer is lost (%s) and retried: every snapshot it made is deleted, one is kept with --keep-snapshots', async (_, cut) => {
    const f = await fake();
    f.cutCreateAnswers = cut;
    const made = () => [...f.snapshots.values()].filter((s) => s.volumeId === 'vol-infected');
    f.loseCreateAnswers = 2;
    const { code, stdout } = await scan('aws:volume/vol-infected', f, '--fail-on', 'critical');
    expect(code).toBe(1);
    expect(JSON.parse(stdout).errors).toEqual([]);
    expect(f.loseCreateAnswers).toBe(0);
    expect(made()).toHaveLength(3);
    expect(made().filter((s) => !s.deleted)).toEqual([]);
    f.loseCreateAnswers = 1;
    expect((await scan('aws:volume/vol-infected', f, '--keep-snapshots', '--fail-on', 'none')).code).toBe(0);
    expect(made()).toHaveLength(5);
    expect(made().filter((s) => !s.deleted)).toHaveLength(1);
  });

  it('a CreateSnapshot that fails for good after lost answers leaves none of the snapshots it made', async () => {
    const f = await fake();
    f.loseCreateAnswers = 3;
    process.env.MINESCAN_CLOUD_ATTEMPTS = '3';
    try {
      const { code, stderr } = await scan('aws:volume/vol-infected', f);
      expect(code).toBe(2);
      expect(stderr).toMatch(/CreateSnapshot vol-infected.*gave up after 3 attempts/);
    } finally {
      delete process.env.MINESCAN_CLOUD_ATTEMPTS;
    }
    const made = [...f.snapshots.values()].filter((s) => s.volumeId === 'vol-infected');
    expect(made).toHaveLength(3);
    expect(made.filter((s) => !s.deleted)).toEqual([]);
  });

  it('reports a block whose checksum does not match, and never reads it as data', async () => {
    const f = await fake({ corruptBlocks: [2] });
    const client = new EBSClient({ region: 'us-east-1', endpoint: f.endpoint, maxAttempts: 1 });
    const source = await EbsSnapshotSource.open({ client, snapshotId: SNAP });
    await expect(source.read(2 * EBS_BLOCK + 100, 10)).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && /checksum/.test(e.message));
    expect((await source.read(EBS_BLOCK * 3, 16)).length).toBe(16);
    client.destroy();
  });

  it('exits 2 when the snapshot or volume does not exist', async () => {
    const f = await fake();
    expect(await scan('aws:snapshot/snap-missing', f)).toMatchObject({ code: 2, stderr: expect.stringMatching(/snap-missing/) });
    expect(await scan('aws:volume/vol-missing', f)).toMatchObject({ code: 2, stderr: expect.stringMatching(/vol-missing/) });
  });

  it('cleanup deletes what a killed run left, older than the threshold, and nothing else', async () => {
    const f = await fake();
    await scan('aws:volume/vol-infected', f, '--keep-snapshots', '--fail-on', 'none');
    await scan('aws:volume/vol-clean', f, '--keep-snapshots', '--fail-on', 'none');
    const made = [...f.snapshots.values()].filter((s) => s.volumeId !== 'vol-unknown');
    expect(made).toHaveLength(2);
    made[0]!.startTime = new Date(Date.now() - 7 * 3_600_000);
    const { code, stdout } = await cli(['cleanup', 'aws', '--older-than', '6h', '--region', 'us-east-1', '--endpoint', f.endpoint]);
    expect(code).toBe(0);
    expect(stdout).toContain(`deleted ${made[0]!.id}`);
    expect(stdout).toContain(`kept ${made[1]!.id}`);
    expect(made.map((s) => s.deleted)).toEqual([true, false]);
    expect(f.snapshots.get(SNAP)!.deleted).toBe(false);
    expect((await cli(['cleanup', 'aws', '--older-than', 'soon'])).code).toBe(2);
  });

  it('leaves nothing behind when killed with SIGTERM mid-scan', async () => {
    // Snapshots that never complete keep the run waiting; SIGTERM must still delete them.
    const f = await fake({ pendingPolls: 1_000_000 });
    const child = spawn('node', [path.join(REPO, 'bin/minescan.js'), 'scan', 'aws:instance/i-web', '--region', 'us-east-1', '--endpoint', f.endpoint], {
      env: { ...process.env, MINESCAN_SNAPSHOT_POLL_MS: '20' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const deadline = Date.now() + 20_000;
    while ([...f.snapshots.values()].filter((s) => s.volumeId !== 'vol-unknown').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(143);
    expect(stderr).toMatch(/SIGTERM/);
    const made = [...f.snapshots.values()].filter((s) => s.volumeId !== 'vol-unknown');
    expect(made).toHaveLength(2);
    expect(made.every((s) => s.deleted)).toBe(true);
  });
});
