/**
 * Reading EBS snapshots right under throttling and cache pressure, with the real SDK
 * clients against the protocol-level fake: a scan under 30% throttling (EBS and EC2
 * errors as the services send them) finds exactly what an unthrottled one finds;
 * errors the APIs call final are not retried; a block that cannot be had is an io
 * error, never zeros; the block cache fetches no block twice while under its budget
 * and stays correct under a tiny one; block tokens that expire mid-scan are listed
 * again, and renewed before their ExpiryTime; a block listing that loops or never
 * ends is a typed error (the target unreadable, or the blocks it was to renew), never
 * a hang; an instance's disks are listed root first with their ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBSClient } from '@aws-sdk/client-ebs';
import { cli } from '../helpers/run-cli.js';
import { EbsSnapshotSource } from '../../cloud/aws/ebs-snapshot-source.js';
import { MountfsError } from '../../mountfs/errors.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantedImages, setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { EBS_BLOCK, EBS_REFUSALS, EC2_REFUSALS, refusalKey, startFakeAws, type FakeAws, type FakeAwsOptions } from '../helpers/fake-aws.js';
import { findingSummary } from '../helpers/findings.js';

const SNAP = 'snap-0123456789abcdef0';

interface Report {
  errors: Array<{ message: string }>;
  notes: string[];
  findings: Array<{ rule: string; severity: 'info' | 'low' | 'medium' | 'high' | 'critical'; path: string; line?: number; family?: string; volume?: number; message: string }>;
  source: { volumes: Array<{ index: number; scheme: string; disk?: { index: number; volumeId?: string; snapshotId?: string; device?: string; root?: boolean } }> };
  stats: { bytesRead: number };
}

/** Findings with the volume they were found on, sorted. */
const found = (r: Report) => r.findings.map((f) => `${f.volume ?? '-'} ${findingSummary([f as never])[0]}`).sort();

describe('reading EBS snapshots under throttling and cache pressure', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  const fakes: FakeAws[] = [];
  const saved = { ...process.env };

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    ({ infected, clean } = await plantedImages(scratch, { sizeMiB: 48, cleanMiB: 24, cleanTable: 'mbr' }));
  });
  afterAll(async () => {
    process.env = saved;
    for (const f of fakes) await f.close();
    if (scratch) await removeScratchDir(scratch);
  });

  // The root disk is /dev/xvda; a data disk named /dev/sdb sorts before it as text, and
  // DescribeInstances lists /dev/xvdf first.
  const fake = async (options: FakeAwsOptions = {}) => {
    const f = await startFakeAws({
      snapshots: { [SNAP]: infected },
      volumes: { 'vol-root': infected, 'vol-data1': clean, 'vol-data2': clean },
      instances: { 'i-multi': { rootDevice: '/dev/xvda', devices: [['/dev/xvdf', 'vol-data2'], ['/dev/sdb', 'vol-data1'], ['/dev/xvda', 'vol-root']] } },
      ...options,
    });
    fakes.push(f);
    return f;
  };
  const scan = async (target: string, f: FakeAws, ...extra: string[]) => {
    const { code, stdout, stderr } = await cli(['scan', target, '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint, '--fail-on', 'high', ...extra]);
    expect(stderr).not.toMatch(/Error|failed/);
    return { code, report: JSON.parse(stdout) as Report };
  };

  it('an instance scanned under 30% throttling gives the findings of an unthrottled scan, its disks root first with their ids', async () => {
    const calm = await fake();
    const baseline = await scan('aws:instance/i-multi', calm);
    expect(baseline.code).toBe(1);
    expect(baseline.report.errors).toEqual([]);

    const busy = await fake({ throttleRate: 0.3, seed: 7 });
    const throttled = await scan('aws:instance/i-multi', busy);
    expect(throttled.report.errors).toEqual([]);
    expect(throttled.code).toBe(1);
    expect(found(throttled.report)).toEqual(found(baseline.report));
    expect(throttled.report.findings.some((f) => f.severity === 'critical')).toBe(true);

    // Both services refused a good share of requests, with their own errors.
    for (const code of ['RequestThrottledException', 'ThrottlingException', 'ConcurrentLimitExceededException', 'InternalServerException', 'RequestLimitExceeded', 'Unavailable', 'InternalError']) expect(busy.throttled.get(code), code).toBeGreaterThan(0);
    // Every answer each service documents, with its HTTP status (and the EBS Reason), was met and got past.
    const documented = [...EBS_REFUSALS.map(([status, code, , reason]) => refusalKey(status, code, reason)), ...EC2_REFUSALS.map(([status, code]) => refusalKey(status, code))];
    expect([...busy.refusedWith].sort()).toEqual([...new Set(documented)].sort());
    expect(documented).toEqual(expect.arrayContaining(['400 RequestThrottledException RESOURCE_LEVEL_THROTTLE', '400 RequestThrottledException ACCOUNT_THROTTLED', '400 ThrottlingException', '500 InternalServerException', '503 RequestLimitExceeded', '503 Unavailable', '500 InternalError']));
    const refused = [...busy.throttled.values()].reduce((a, b) => a + b, 0);
    expect(refused / busy.requests).toBeGreaterThan(0.2);
    // Under the cache budget no block was served twice, throttled or not.
    for (const counts of busy.blockRequests.values()) for (const n of counts.values()) expect(n).toBe(1);

    // Root first, then /dev/sdb, then /dev/xvdf; every volume names its disk.
    const disks = throttled.report.source.volumes.map((v) => v.disk!);
    expect(disks.map((d) => `${d.index} ${d.volumeId} ${d.device} ${d.root}`)).toEqual(['0 vol-root /dev/xvda true', '1 vol-data1 /dev/sdb false', '2 vol-data2 /dev/xvdf false']);
    const made = new Map([...busy.snapshots.values()].map((s) => [s.volumeId, s.id]));
    for (const d of disks) expect(d.snapshotId).toBe(made.get(d.volumeId!));
    // Findings name a volume by its position: the critical ones lie on the root disk.
    expect(new Set(throttled.report.findings.filter((f) => f.severity === 'critical').map((f) => f.volume))).toEqual(new Set([0]));
    expect(new Set(throttled.report.findings.map((f) => f.volume)).size).toBeGreaterThan(1);
    expect([...busy.snapshots.values()].filter((s) => s.volumeId !== 'vol-unknown').every((s) => s.deleted)).toBe(true);
  });

  it('the text report numbers volumes as findings do and names each disk', async () => {
    const f = await fake();
    const { stdout } = await cli(['scan', 'aws:instance/i-multi', '--format', 'text', '--region', 'us-east-1', '--endpoint', f.endpoint, '--fail-on', 'none']);
    const lines = stdout.split('\n').filter((l) => /^ {2}volume /.test(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ {2}volume 0 \[gpt .*partition 1 .* on disk 0 vol-root \(\/dev\/xvda, root\) from snap-/);
    expect(lines[1]).toMatch(/^ {2}volume 1 \[mbr .* on disk 1 vol-data1 \(\/dev\/sdb, data\) from snap-/);
    expect(lines[2]).toMatch(/^ {2}volume 2 \[mbr .* on disk 2 vol-data2 \(\/dev\/xvdf, data\)/);
  });

  it('a snapshot read under a tiny cache budget gives the same findings, fetching blocks again instead of keeping them', async () => {
    const roomy = await fake();
    const baseline = await scan(`aws:snapshot/${SNAP}`, roomy);
    const tight = await fake({ throttleRate: 0.3, seed: 11 });
    const squeezed = await scan(`aws:snapshot/${SNAP}`, tight, '--cache-size', '512K');
    expect(squeezed.report.errors).toEqual([]);
    expect(found(squeezed.report)).toEqual(found(baseline.report));
    expect(squeezed.report.source.volumes[0]!.disk).toEqual({ index: 0, snapshotId: SNAP });
    const roomyCounts = [...roomy.blockRequests.get(SNAP)!.values()];
    const tightCounts = [...tight.blockRequests.get(SNAP)!.values()];
    expect(Math.max(...roomyCounts)).toBe(1);
    // Room for one block: blocks are fetched again, and every fetch is counted as read.
    expect(Math.max(...tightCounts)).toBeGreaterThan(1);
    expect(squeezed.report.stats.bytesRead).toBe(tightCounts.reduce((a, b) => a + b, 0) * EBS_BLOCK);
    expect((await cli(['scan', `aws:snapshot/${SNAP}`, '--cache-size', 'lots'])).code).toBe(2);
  });

  it('a block refused past the retry budget is an io error naming the service error; final errors are not retried; a cut connection is', async () => {
    process.env.MINESCAN_CLOUD_RETRY_TIME = '300ms';
    const f = await fake({ corruptBlocks: [] });
    const client = new EBSClient({ region: 'us-east-1', endpoint: f.endpoint, maxAttempts: 1 });
    try {
      const source = await EbsSnapshotSource.open({ client, snapshotId: SNAP });
      const [a, b, c, d, e, g] = Array.from({ length: 256 }, (_, i) => i).filter((i) => source.holds(i));
      f.options.refuseBlocks = { [a!]: 'RequestThrottledException', [b!]: 'AccessDeniedException', [c!]: 'ValidationException', [e!]: 'ServiceQuotaExceededException' };
      f.options.corruptBlocks = [d!];
      f.options.cutBlocks = [g!];
      const failure = (kind: string, text: RegExp) => (e: unknown) => e instanceof MountfsError && e.kind === kind && text.test(e.message);
      await expect(source.read(a! * EBS_BLOCK, 10)).rejects.toSatisfy(failure('io', /RequestThrottledException.*gave up after \d+ attempts/));
      await expect(source.read(b! * EBS_BLOCK, 10)).rejects.toSatisfy(failure('io', /AccessDeniedException/));
      await expect(source.read(c! * EBS_BLOCK, 10)).rejects.toSatisfy(failure('io', /ValidationException/));
      await expect(source.read(d! * EBS_BLOCK, 10)).rejects.toSatisfy(failure('corrupt', /checksum/));
      await expect(source.read(e! * EBS_BLOCK, 10)).rejects.toSatisfy(failure('io', /ServiceQuotaExceededException/));
      // A connection cut halfway through a block is tried again.
      expect((await source.read(g! * EBS_BLOCK, EBS_BLOCK)).length).toBe(EBS_BLOCK);
      const attempts = f.blockAttempts.get(SNAP)!;
      expect(attempts.get(a!)).toBeGreaterThan(2);
      expect(attempts.get(b!)).toBe(1);
      expect(attempts.get(c!)).toBe(1);
      // A checksum that fails is fetched again, a bounded number of times.
      expect(attempts.get(d!)).toBe(3);
      expect(attempts.get(e!)).toBe(1);
      expect(attempts.get(g!)).toBe(2);
      expect(f.blockRequests.get(SNAP)!.get(g!)).toBe(1);
    } finally {
      client.destroy();
      delete process.env.MINESCAN_CLOUD_RETRY_TIME;
    }
  });

  it('block tokens that expire mid-scan: the range is listed again and the scan goes on, complete and right', async () => {
    const calm = await fake();
    const baseline = await scan(`aws:snapshot/${SNAP}`, calm);
    // The scan reads a handful of blocks: every token dies after 2 are served, under throttling besides.
    const f = await fake({ tokenLifetime: 2, throttleRate: 0.2, seed: 3 });
    const { code, report } = await scan(`aws:snapshot/${SNAP}`, f);
    expect(report.errors).toEqual([]);
    expect(code).toBe(baseline.code);
    expect(found(report)).toEqual(found(baseline.report));
    expect(f.expiredTokens).toBeGreaterThan(0);
    // Readers that met one expiry share one listing; no block was served twice.
    expect(f.listings.get(SNAP)!).toBeGreaterThan(1);
    expect(f.listings.get(SNAP)!).toBeLessThanOrEqual(f.expiredTokens + 1);
    const served = [...f.blockRequests.get(SNAP)!.values()];
    expect(Math.max(...served)).toBe(1);
    expect(report.stats.bytesRead).toBe(served.length * EBS_BLOCK);
  });

  it('block tokens are renewed shortly before their ExpiryTime: a scan that outlives them meets no refusal and is complete', async () => {
    const calm = await fake();
    const baseline = await scan(`aws:snapshot/${SNAP}`, calm);
    expect(calm.blockRequests.get(SNAP)!.size).toBeGreaterThan(2);
    // Tokens live 3 s by their ExpiryTime, and the fake refuses them after it. The scan is held
    // on its first block (the partition table) for longer than that: every block read after it
    // needs a renewed token.
    const f = await fake({ tokenExpiryMs: 3000 });
    const held = f.holds.hold('GetSnapshotBlock');
    void held.reached.then(() => setTimeout(held.release, 4000));
    const { code, report } = await scan(`aws:snapshot/${SNAP}`, f);
    expect(f.expiredTokens).toBe(0);
    expect(report.errors).toEqual([]);
    expect(code).toBe(baseline.code);
    expect(found(report)).toEqual(found(baseline.report));
    // Renewed by listing again, and no block was fetched twice for it.
    expect(f.listings.get(SNAP)!).toBeGreaterThan(1);
    expect(Math.max(...f.blockRequests.get(SNAP)!.values())).toBe(1);
  });

  it('a block whose every fresh token is refused is an io error after a bounded number of listings', async () => {
    const f = await fake({ tokenLifetime: 0 });
    const client = new EBSClient({ region: 'us-east-1', endpoint: f.endpoint, maxAttempts: 1 });
    try {
      const source = await EbsSnapshotSource.open({ client, snapshotId: SNAP });
      const block = Array.from({ length: 256 }, (_, i) => i).find((i) => source.holds(i))!;
      await expect(source.read(block * EBS_BLOCK, 10)).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && e.kind === 'io' && /ValidationException.*expired/.test(e.message));
      expect(f.blockAttempts.get(SNAP)!.get(block)).toBe(4);
      expect(f.listings.get(SNAP)).toBe(4);
    } finally {
      client.destroy();
    }
  });

  const LOOPS = [
    ['same-token', /gives NextToken "loop" again/],
    ['same-blocks', /lists block \d+ twice.*loops/],
    ['empty-pages', /page after page without a block/],
  ] as const;

  it.each(LOOPS)('a block listing that never ends (%s) fails the target with a typed error after a bounded number of pages, and its snapshot is deleted', async (kind, reason) => {
    const f = await fake({ listingLoop: { kind }, pageSize: 7 });
    const { code, stdout, stderr } = await cli(['scan', 'aws:volume/vol-root', '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint]);
    expect(code).toBe(2);
    expect(stderr).toMatch(reason);
    // The report says the target could not be read, and why: never a clean verdict.
    const report = JSON.parse(stdout);
    expect(report.status).toBe('incomplete');
    expect(report.errors).toEqual([expect.objectContaining({ kind: expect.stringMatching(/^(corrupt|limit)$/), structure: 'EBS snapshot block listing', message: expect.stringMatching(reason) })]);
    const made = [...f.snapshots.values()].filter((s) => s.volumeId === 'vol-root');
    expect(made.map((s) => s.deleted)).toEqual([true]);
    expect(f.listings.get(made[0]!.id)).toBeLessThanOrEqual(10);
  });

  it.each(LOOPS)('a listing again that never ends (%s) makes the blocks it was to renew io errors, and the scan incomplete', async (kind, reason) => {
    const f = await fake({ tokenLifetime: 0, listingLoop: { kind, relistsOnly: true } });
    const client = new EBSClient({ region: 'us-east-1', endpoint: f.endpoint, maxAttempts: 1 });
    try {
      const source = await EbsSnapshotSource.open({ client, snapshotId: SNAP });
      const block = Array.from({ length: 256 }, (_, i) => i).find((i) => source.holds(i))!;
      await expect(source.read(block * EBS_BLOCK, 10)).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && e.kind === 'io' && /its token expired and listing it again failed/.test(e.message) && reason.test(e.message));
      expect(f.listings.get(SNAP)).toBeLessThanOrEqual(11);
    } finally {
      client.destroy();
    }
    if (kind !== 'same-blocks') return;
    // The verdict: tokens die mid-scan and cannot be renewed, so the scan is incomplete, never clean.
    const scanned = await cli(['scan', `aws:snapshot/${SNAP}`, '--format', 'json', '--region', 'us-east-1', '--endpoint', (await fake({ tokenLifetime: 2, listingLoop: { kind, relistsOnly: true } })).endpoint]);
    const report = JSON.parse(scanned.stdout);
    expect(report.status).toBe('incomplete');
    expect(report.errors.map((e: { message: string }) => e.message).join('\n')).toMatch(reason);
    expect(scanned.code).toBe(3);
  });

  it('a refused backup GPT costs its check, not the partitions; a refused first block makes the target unreadable, saying why', async () => {
    const calm = await fake();
    const baseline = await scan(`aws:snapshot/${SNAP}`, calm);
    // The last block of those read holds the backup GPT at the end of the disk.
    const backup = Math.max(...calm.blockRequests.get(SNAP)!.keys());
    process.env.MINESCAN_CLOUD_RETRY_TIME = '200ms';
    try {
      const { code, report } = await scan(`aws:snapshot/${SNAP}`, await fake({ refuseBlocks: { [backup]: 'RequestThrottledException' } }));
      expect(code).toBe(1);
      expect(found(report)).toEqual(found(baseline.report));
      // The primary was used, so nothing was missed: a note, not an error (the scan stays complete).
      expect(report.errors).toEqual([]);
      expect(report.notes).toEqual([expect.stringMatching(/backup GPT .* cannot be read: .*RequestThrottledException/)]);
      // Without its first block nothing can be read: exit 2, saying why.
      const first = await cli(['scan', `aws:snapshot/${SNAP}`, '--format', 'json', '--region', 'us-east-1', '--endpoint', (await fake({ refuseBlocks: { 0: 'RequestThrottledException' } })).endpoint]);
      expect(first.code).toBe(2);
      expect(first.stderr).toMatch(/RequestThrottledException.*block 0/);
    } finally {
      delete process.env.MINESCAN_CLOUD_RETRY_TIME;
    }
  });

  it('a block holding the ext4 superblock that fails its checksum is named as such, not as "no filesystem found"', async () => {
    // The GPT's first partition starts at 1 MiB: EBS block 2 holds its superblock (at 1 KiB into it).
    const f = await fake({ corruptBlocks: [2] });
    const { code, stdout, stderr } = await cli(['scan', `aws:snapshot/${SNAP}`, '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint]);
    const said = `${stderr}\n${JSON.parse(stdout || '{"errors":[]}').errors.map((e: { message: string }) => e.message).join('\n')}`;
    expect(said).toMatch(/block 2 fails its SHA-256 checksum/);
    expect(said).not.toMatch(/no partition table or filesystem/);
    expect([2, 3]).toContain(code);
    expect(f.blockAttempts.get(SNAP)!.get(2)).toBe(3);
  });

  it('a scan that cannot have a block it needs reports an error instead of reading zeros', async () => {
    const calm = await fake();
    await scan(`aws:snapshot/${SNAP}`, calm);
    // A block in the middle of those the scan read holds a file or metadata the checks
    // needed (the first and last ones hold the partition tables and the superblock).
    const read = [...calm.blockRequests.get(SNAP)!.keys()].sort((x, y) => x - y);
    const needed = read[Math.floor(read.length / 2)]!;
    process.env.MINESCAN_CLOUD_RETRY_TIME = '200ms';
    try {
      const f = await fake({ refuseBlocks: { [needed]: 'RequestThrottledException' } });
      const { code, report } = await scan(`aws:snapshot/${SNAP}`, f);
      expect(report.errors.length).toBeGreaterThan(0);
      expect(report.errors.map((e) => e.message).join('\n')).toMatch(/RequestThrottledException/);
      // Incomplete, whatever was found besides (exit 3 outranks the findings' 1), and each
      // unreadable path (or stopped check) listed once, with the block and the service's error.
      expect((report as unknown as { status: string }).status).toBe('incomplete');
      expect(code).toBe(3);
      const entries = (report.errors as Array<{ path?: string; check?: string; message: string }>).map((e) => `${e.path ?? ''}\0${e.check ?? ''}\0${e.message}`);
      expect(new Set(entries).size).toBe(entries.length);
      expect(report.errors.every((e) => new RegExp(`block ${needed}\\b`).test(e.message))).toBe(true);
    } finally {
      delete process.env.MINESCAN_CLOUD_RETRY_TIME;
    }
  });
});
