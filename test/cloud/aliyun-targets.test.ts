/**
 * Alibaba Cloud targets with the real ECS SDK client against a protocol-level fake on
 * 127.0.0.1: snapshot, temporary disk in the scanner's zone, attach, the device found
 * by serial and read read-only, then detach and delete everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { cli } from '../helpers/run-cli.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantedImages, setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { ECS_REFUSALS, startFakeAliyun, type FakeAliyun } from '../helpers/fake-aliyun.js';
import { findingSummary } from '../helpers/findings.js';


describe('aliyun targets', () => {
  let scratch: string;
  let f: FakeAliyun;
  let images: { infected: string; clean: string; devices: string };

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    const { infected, clean } = await plantedImages(scratch, { sizeMiB: 24, cleanTable: 'mbr' });
    const devices = path.join(scratch, 'by-id');
    await mkdir(devices);
    process.env.MINESCAN_DEVICE_DIR = devices;
    images = { infected, clean, devices };
    f = await startFakeAliyun({
      scanner: 'i-scanner',
      zone: 'cn-hangzhou-h',
      deviceDir: devices,
      sourceDisks: {
        'd-web-system': { image: infected, instance: 'i-web', type: 'system' },
        'd-web-data': { image: clean, instance: 'i-web', type: 'data' },
        'd-db-system': { image: clean, instance: 'i-db', type: 'system' },
        'd-ci-system': { image: infected, instance: 'i-ci', type: 'system' },
      },
      instanceTags: { 'i-web': { env: 'prod' }, 'i-db': { env: 'prod' }, 'i-ci': { env: 'dev' } },
      throttleFirst: 2,
    });
    process.env.MINESCAN_ALIYUN_METADATA_URL = f.metadataUrl;
  }, 120_000);
  afterAll(async () => {
    delete process.env.MINESCAN_DEVICE_DIR;
    delete process.env.MINESCAN_ALIYUN_METADATA_URL;
    await f?.close();
    if (scratch) await removeScratchDir(scratch);
  });

  const scan = (target: string, ...extra: string[]) => cli(['scan', target, '--format', 'json', '--region', 'cn-hangzhou', '--endpoint', f.endpoint, ...extra]);

  it('snapshots every disk of an instance, attaches temporary disks, scans them, and removes it all', async () => {
    const { code, stdout, stderr } = await scan('aliyun:instance/i-web', '--fail-on', 'high');
    expect(stderr).not.toMatch(/cleanup/);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.source.volumes.map((v: { scheme: string; filesystem: string }) => `${v.scheme}:${v.filesystem}`)).toEqual(['gpt:ext4', 'mbr:ext4']);
    const families = new Set(report.findings.map((x: { family?: string }) => x.family).filter(Boolean));
    expect([...families].sort()).toEqual(['aliyun-duns', 'cleanfda', 'kinsing', 'outlaw', 'skidmap']);
    const made = [...f.snapshots.values()];
    expect(made).toHaveLength(2);
    expect(made.every((s) => s.deleted && s.tags['minescan:created-by'] === 'minescan')).toBe(true);
    const temporary = [...f.disks.values()].filter((d) => d.fromSnapshot);
    expect(temporary).toHaveLength(2);
    expect(temporary.every((d) => d.deleted && d.tags['minescan:scan-id'] === made[0]!.tags['minescan:scan-id'])).toBe(true);
    expect(f.actions).toContain('AttachDisk');
    expect(f.actions.filter((a) => a === 'DetachDisk')).toHaveLength(2);
    // The scanned instance's own disks are only read.
    expect(f.disks.get('d-web-system')!).toMatchObject({ deleted: false, status: 'In_use', instance: 'i-web' });
  });

  it('under 30% throttling (Throttling.User, Throttling.Api, ServiceUnavailable, ...) an instance scan gives the same findings, its disks root first with their ids', async () => {
    // The system disk's device sorts after the data disk's as text.
    const disks = {
      'd-app-data': { image: images.clean, instance: 'i-app', type: 'data' as const, device: '/dev/vdb' },
      'd-app-system': { image: images.infected, instance: 'i-app', type: 'system' as const, device: '/dev/xvda' },
    };
    const run = async (throttleRate: number) => {
      const fake = await startFakeAliyun({ scanner: 'i-scanner', zone: 'cn-hangzhou-h', deviceDir: images.devices, sourceDisks: disks, throttleRate, seed: 3 });
      try {
        const { code, stdout } = await cli(['scan', 'aliyun:instance/i-app', '--format', 'json', '--region', 'cn-hangzhou', '--endpoint', fake.endpoint, '--fail-on', 'high']);
        expect([...fake.disks.values()].filter((d) => d.fromSnapshot && !d.deleted)).toEqual([]);
        expect([...fake.snapshots.values()].every((s) => s.deleted)).toBe(true);
        return { code, report: JSON.parse(stdout), fake };
      } finally {
        await fake.close();
      }
    };
    const found = (r: { findings: Array<{ volume?: number }> }) => r.findings.map((x) => `${x.volume} ${findingSummary([x as never])[0]}`).sort();
    const calm = await run(0);
    const busy = await run(0.3);
    expect(calm.report.errors).toEqual([]);
    expect(busy.report.errors).toEqual([]);
    expect(busy.code).toBe(1);
    expect(found(busy.report)).toEqual(found(calm.report));
    for (const code of ['Throttling.User', 'Throttling.Api', 'Throttling', 'ServiceUnavailable', 'InternalError']) expect(busy.fake.throttled.get(code), code).toBeGreaterThan(0);
    // Every answer ECS documents for throttling and passing failures, with its HTTP status, was met and got past.
    expect([...busy.fake.refusedWith].sort()).toEqual(ECS_REFUSALS.map(([status, code]) => `${status} ${code}`).sort());
    expect([...busy.fake.refusedWith]).toEqual(expect.arrayContaining(['400 Throttling.User', '400 Throttling.Api', '400 Throttling', '503 ServiceUnavailable', '500 InternalError']));
    const listed = busy.report.source.volumes.map((v: { disk: { index: number; volumeId: string; device: string; root: boolean; snapshotId: string } }) => v.disk);
    expect(listed.map((d: { index: number; volumeId: string; device: string; root: boolean }) => `${d.index} ${d.volumeId} ${d.device} ${d.root}`)).toEqual(['0 d-app-system /dev/xvda true', '1 d-app-data /dev/vdb false']);
    const made = new Map([...busy.fake.snapshots.values()].map((s) => [s.disk, s.id]));
    for (const d of listed) expect(d.snapshotId).toBe(made.get(d.volumeId));
  });

  it('a create whose answer is lost is retried with the same ClientToken: one snapshot and one disk, both removed', async () => {
    const before = { snapshots: f.snapshots.size, disks: f.disks.size };
    f.loseCreateAnswers = 2;
    const { code } = await scan('aliyun:disk/d-db-system');
    expect(code).toBe(0);
    expect(f.loseCreateAnswers).toBe(0);
    const snapshots = [...f.snapshots.values()].slice(before.snapshots);
    const disks = [...f.disks.values()].slice(before.disks);
    expect(snapshots).toHaveLength(1);
    expect(disks).toHaveLength(1);
    expect([...snapshots, ...disks].every((r) => r.deleted)).toBe(true);
  });

  it('scans an existing snapshot without deleting it, and refuses an unknown disk with exit 2', async () => {
    const before = [...f.snapshots.values()].length;
    await scan('aliyun:disk/d-web-data', '--keep-snapshots', '--fail-on', 'none');
    const kept = [...f.snapshots.values()].slice(before);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.deleted).toBe(false);
    const { code, stdout } = await scan(`aliyun:snapshot/${kept[0]!.id}`, '--fail-on', 'none');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).source.volumes[0]).toMatchObject({ scheme: 'mbr', filesystem: 'ext4' });
    expect(f.snapshots.get(kept[0]!.id)!.deleted).toBe(false);
    expect((await scan('aliyun:disk/d-missing')).code).toBe(2);
    expect([...f.disks.values()].filter((d) => d.fromSnapshot && !d.deleted)).toEqual([]);
  });

  it('audits a fleet: pages of instances narrowed by tag, one report each, a summary', async () => {
    const dir = path.join(scratch, 'fleet');
    const { code } = await cli(['fleet', 'aliyun', '--region', 'cn-hangzhou', '--endpoint', f.endpoint, '--filter', 'tag:env=prod', '--output-dir', dir]);
    expect(code).toBe(1);
    const summary = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8'));
    // The clean instance's low and info findings are counted, but --fail-on high does not act on them.
    expect(summary.instances.map((r: { instance: string; verdict: string }) => `${r.instance}:${r.verdict}`)).toEqual(['i-db:none', 'i-web:critical']);
    expect(summary.instances[0].bySeverity).toMatchObject({ critical: 0, high: 0, medium: 0, low: 1 });
    expect(summary.totals.byVerdict).toMatchObject({ none: 1, critical: 1 });
    expect([...f.disks.values()].filter((d) => d.fromSnapshot && !d.deleted)).toEqual([]);
  });

  it('cleanup deletes tagged disks and snapshots a killed run left, older than the threshold', async () => {
    const before = [...f.snapshots.values()].filter((s) => !s.deleted);
    await scan('aliyun:disk/d-db-system', '--keep-snapshots', '--fail-on', 'none');
    const left = [...f.snapshots.values()].filter((s) => !s.deleted && !before.includes(s));
    expect(left).toHaveLength(1);
    left[0]!.created = new Date(Date.now() - 10 * 3_600_000);
    f.disks.set('d-leftover', { id: 'd-leftover', image: '', status: 'Available', type: 'data', tags: { 'minescan:created-by': 'minescan' }, deleted: false, fromSnapshot: left[0]!.id, created: new Date(Date.now() - 10 * 3_600_000) });
    const { code, stdout } = await cli(['cleanup', 'aliyun', '--older-than', '6h', '--region', 'cn-hangzhou', '--endpoint', f.endpoint]);
    expect(code).toBe(0);
    expect(stdout).toContain('deleted d-leftover');
    expect(stdout).toContain(`deleted ${left[0]!.id}`);
    expect(f.disks.get('d-leftover')!.deleted).toBe(true);
    for (const s of before) expect(f.snapshots.get(s.id)!.deleted).toBe(false);
  });
});
