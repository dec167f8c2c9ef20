/**
 * What a killed run leaves, removed by one `minescan cleanup` over several pages of
 * listings (AWS snapshots; Alibaba Cloud disks attached, still creating or available,
 * and snapshots), and how minescan finds its scanner on Alibaba Cloud: the metadata
 * service's token-required mode, --scanner-instance without the metadata service,
 * --scanner-zone, and the bounded wait for an attached disk's device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { buildImage, makeScratchDir, plantTree, removeScratchDir } from '../helpers/images.js';
import { startFakeAliyun, type FakeAliyun, type FakeAliyunOptions } from '../helpers/fake-aliyun.js';
import { startFakeAws } from '../helpers/fake-aws.js';
import { setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { cli } from '../helpers/run-cli.js';

const HOURS = 3_600_000;
const TAGS = { 'minescan:created-by': 'minescan', 'minescan:scan-id': 'killed-run' };

describe('cloud lifecycle', () => {
  let scratch: string;
  let clean: string;
  const fakes: FakeAliyun[] = [];
  let n = 0;

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    clean = await buildImage(await plantTree(path.join(scratch, 'clean'), true), path.join(scratch, 'clean.img'), { table: 'mbr', sizeMiB: 16 });
  }, 120_000);
  afterAll(async () => {
    delete process.env.MINESCAN_DEVICE_DIR;
    delete process.env.MINESCAN_ALIYUN_METADATA_URL;
    for (const f of fakes) await f.close();
    if (scratch) await removeScratchDir(scratch);
  });

  const aliyun = async (extra: Partial<FakeAliyunOptions> = {}) => {
    const deviceDir = path.join(scratch, `by-id-${n++}`);
    await mkdir(deviceDir);
    const f = await startFakeAliyun({ scanner: 'i-scanner', zone: 'cn-hangzhou-h', deviceDir, sourceDisks: { 'd-db-system': { image: clean, instance: 'i-db', type: 'system' } }, ...extra });
    fakes.push(f);
    process.env.MINESCAN_DEVICE_DIR = deviceDir;
    process.env.MINESCAN_ALIYUN_METADATA_URL = f.metadataUrl;
    return Object.assign(f, { deviceDir });
  };
  const scanDisk = (f: FakeAliyun, ...extra: string[]) => cli(['scan', 'aliyun:disk/d-db-system', '--format', 'json', '--fail-on', 'none', '--region', 'cn-hangzhou', '--endpoint', f.endpoint, ...extra]);
  const nothingLeft = async (f: FakeAliyun & { deviceDir: string }) => {
    expect([...f.snapshots.values()].filter((s) => !s.deleted)).toEqual([]);
    expect([...f.disks.values()].filter((d) => d.fromSnapshot && !d.deleted)).toEqual([]);
    expect(await readdir(f.deviceDir)).toEqual([]);
  };

  it('cleanup aliyun: one run over pages of two removes attached, creating and available disks and the snapshots', async () => {
    const f = await aliyun({ pageSize: 2 });
    const old = new Date(Date.now() - 10 * HOURS);
    for (let i = 0; i < 4; i++) f.snapshots.set(`s-left${i}`, { id: `s-left${i}`, disk: 'd-db-system', image: clean, polls: 0, tags: TAGS, deleted: false, created: old });
    const states = ['In_use', 'In_use', 'In_use', 'Creating', 'Available'] as const;
    for (const [i, status] of states.entries()) {
      const id = `d-left${i}`;
      f.disks.set(id, { id, image: clean, status, instance: status === 'In_use' ? 'i-scanner' : undefined, type: 'data', tags: TAGS, deleted: false, fromSnapshot: `s-left${i % 4}`, created: old });
      if (status === 'In_use') await symlink(clean, path.join(f.deviceDir, `virtio-${id.slice(2)}`));
    }
    f.disks.set('d-young', { id: 'd-young', image: clean, status: 'Available', type: 'data', tags: TAGS, deleted: false, fromSnapshot: 's-left0', created: new Date() });
    const { code, stdout, stderr } = await cli(['cleanup', 'aliyun', '--older-than', '6h', '--region', 'cn-hangzhou', '--endpoint', f.endpoint]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    for (let i = 0; i < 5; i++) expect(stdout).toContain(`deleted d-left${i}`);
    for (let i = 0; i < 4; i++) expect(stdout).toContain(`deleted s-left${i}`);
    expect(stdout).toContain('kept d-young');
    expect([...f.disks.values()].filter((d) => d.fromSnapshot && !d.deleted).map((d) => d.id)).toEqual(['d-young']);
    expect([...f.snapshots.values()].filter((s) => !s.deleted)).toEqual([]);
    expect(await readdir(f.deviceDir)).toEqual([]);
    // Detaching before deleting, and more than one page of each listing.
    expect(f.actions.filter((a) => a === 'DetachDisk')).toHaveLength(3);
    expect(f.actions.filter((a) => a === 'DescribeSnapshots').length).toBeGreaterThanOrEqual(2);
  });

  it('cleanup aws: one run over pages of three removes every tagged snapshot', async () => {
    const f = await startFakeAws({ snapshots: { 'snap-keep': clean }, pageSize: 3 });
    for (let i = 0; i < 7; i++) {
      const id = `snap-left${i}`;
      f.snapshots.set(id, { id, volumeId: 'vol-x', image: clean, pendingPolls: 0, tags: TAGS, deleted: false, startTime: new Date(Date.now() - 10 * HOURS) });
    }
    try {
      const { code, stdout } = await cli(['cleanup', 'aws', '--older-than', '6h', '--region', 'us-east-1', '--endpoint', f.endpoint]);
      expect(code).toBe(0);
      expect(stdout.trim().split('\n')).toHaveLength(7);
      expect([...f.snapshots.values()].filter((s) => !s.deleted).map((s) => s.id)).toEqual(['snap-keep']);
      expect(f.actions.filter((a) => a === 'DescribeSnapshots')).toHaveLength(3);
    } finally {
      await f.close();
    }
  });

  it('reads the scanner identity from a metadata service that requires a session token', async () => {
    const f = await aliyun({ metadataTokenRequired: true });
    const { code, stdout, stderr } = await scanDisk(f);
    expect(stderr).not.toMatch(/cannot tell/);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).source.volumes[0]).toMatchObject({ scheme: 'mbr', filesystem: 'ext4' });
    await nothingLeft(f);
  });

  it('--scanner-instance needs no metadata service: the zone comes from DescribeInstances, or from --scanner-zone', async () => {
    const f = await aliyun();
    process.env.MINESCAN_ALIYUN_METADATA_URL = 'http://127.0.0.1:1';
    expect((await scanDisk(f)).stderr).toMatch(/cannot tell which instance/);
    expect((await scanDisk(f, '--scanner-instance', 'i-scanner')).code).toBe(0);
    expect(f.actions.filter((a) => a === 'DescribeInstances')).toHaveLength(1);
    expect((await scanDisk(f, '--scanner-instance', 'i-scanner', '--scanner-zone', 'cn-hangzhou-h')).code).toBe(0);
    expect(f.actions.filter((a) => a === 'DescribeInstances')).toHaveLength(1);
    await nothingLeft(f);
  });

  it('gives up on a device that does not appear after --device-wait, and leaves nothing', async () => {
    const f = await aliyun({ devicesAppear: false });
    const { code, stderr } = await scanDisk(f, '--device-wait', '1s');
    expect(code).toBe(2);
    expect(stderr).toMatch(/did not appear/);
    await nothingLeft(f);
    expect((await scanDisk(f, '--device-wait', 'soon')).code).toBe(2);
  });
});
