/**
 * The pre-restore check: an EBS snapshot scanned in place through the EBS direct APIs,
 * with the real SDK client against a protocol-level fake on 127.0.0.1 serving the
 * planted-artifact disk image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { main, type Io } from '../../src/cli/main.js';
import { EbsSnapshotSource } from '../../cloud/aws/ebs-snapshot-source.js';
import { MountfsError } from '../../mountfs/errors.js';
import { buildImage, IMMUTABLE_LIST, makeScratchDir, plantTree, removeScratchDir } from '../helpers/images.js';
import { EBS_BLOCK, startFakeEbs, type FakeEbs } from '../helpers/fake-ebs.js';

const SNAP = 'snap-0123456789abcdef0';

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), isTty: false };
  return { code: await main(args, io), stdout, stderr };
}

describe('aws:snapshot targets', () => {
  let scratch: string;
  let image: string;
  const fakes: FakeEbs[] = [];

  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.MINESCAN_CLOUD_BACKOFF_MS = '5';
    scratch = await makeScratchDir();
    const tree = await plantTree(path.join(scratch, 'root'));
    image = await buildImage(tree, path.join(scratch, 'disk.img'), { table: 'gpt', sizeMiB: 64, immutable: IMMUTABLE_LIST });
  });
  afterAll(async () => {
    for (const f of fakes) await f.close();
    if (scratch) await removeScratchDir(scratch);
  });

  const fake = async (options: Partial<Parameters<typeof startFakeEbs>[0]> = {}) => {
    const f = await startFakeEbs({ snapshotId: SNAP, image, ...options });
    fakes.push(f);
    return f;
  };

  it('finds the planted artifacts while fetching a fraction of the blocks, and fails the pipeline', async () => {
    const f = await fake({ pageSize: 7 });
    const { code, stdout } = await cli(['scan', `aws:snapshot/${SNAP}`, '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint, '--fail-on', 'high']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.source.kind).toBe('cloud-snapshot');
    expect(report.errors).toEqual([]);
    const families = new Set(report.findings.map((x: { family?: string }) => x.family).filter(Boolean));
    expect([...families].sort()).toEqual(['aliyun-duns', 'cleanfda', 'kinsing', 'outlaw', 'skidmap']);
    expect(report.findings.some((x: { rule: string; path: string }) => x.rule === 'immutable.locked-file' && x.path === '/etc/ld.so.preload')).toBe(true);
    const fetched = f.blockRequests.size;
    expect(fetched).toBeGreaterThan(0);
    expect(fetched).toBeLessThan(f.listedBlocks / 2);
    expect(report.stats.bytesRead).toBe(fetched * EBS_BLOCK);
    for (const n of f.blockRequests.values()) expect(n).toBe(1);
  });

  it('retries throttling and transient 500s', async () => {
    const f = await fake({ throttleFirst: 3, failNext: 2 });
    const { code, stdout } = await cli(['scan', `aws:snapshot/${SNAP}`, '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint, '--fail-on', 'none']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).summary.critical).toBeGreaterThan(0);
  });

  it('reports a block whose checksum does not match, and never reads it as data', async () => {
    const f = await fake({ corruptBlocks: [2] });
    const client = new EBSClient({ region: 'us-east-1', endpoint: f.endpoint, maxAttempts: 1 });
    const source = await EbsSnapshotSource.open({ client, snapshotId: SNAP });
    await expect(source.read(2 * EBS_BLOCK + 100, 10)).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && /checksum/.test(e.message));
    expect((await source.read(EBS_BLOCK * 3, 16)).length).toBe(16);
    client.destroy();
  });

  it('exits 2 when the snapshot does not exist', async () => {
    const f = await fake();
    const { code, stderr } = await cli(['scan', 'aws:snapshot/snap-missing', '--region', 'us-east-1', '--endpoint', f.endpoint]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/snap-missing/);
  });
});
