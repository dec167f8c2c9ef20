/**
 * The fleet audit against a fake AWS account of 50 instances (real SDK clients, fake
 * EC2 and EBS endpoints on 127.0.0.1): one report per instance, a summary in JSON and
 * CSV, failed instances listed with the reason while the rest goes on, --resume, and
 * three shards merged into a summary equal to an unsharded run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cli } from '../helpers/run-cli.js';
import { inShard, parseShard } from '../../src/fleet/shard.js';
import type { FleetSummary } from '../../src/fleet/summary.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantedImages, setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { startFakeAws, type FakeAws } from '../helpers/fake-aws.js';


const ids = Array.from({ length: 50 }, (_, i) => `i-${(0x1000 + i).toString(16).padStart(17, '0')}`);
const infectedIds = ids.filter((_, i) => i % 10 === 3);

describe('minescan fleet aws', () => {
  let scratch: string;
  let f: FakeAws;

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    const { infected, clean } = await plantedImages(scratch, { sizeMiB: 24, cleanTable: 'gpt' });
    const volumes: Record<string, string> = {};
    const instances: Record<string, string[]> = {};
    const instanceTags: Record<string, Record<string, string>> = {};
    ids.forEach((id, i) => {
      const vol = `vol-${id.slice(2)}`;
      // One instance's volume is gone: CreateSnapshot fails, the instance is reported failed.
      if (i !== 7) volumes[vol] = infectedIds.includes(id) ? infected : clean;
      instances[id] = [vol];
      instanceTags[id] = { env: i < 45 ? 'prod' : 'dev' };
    });
    f = await startFakeAws({ volumes, instances, instanceTags, pendingPolls: 1, pageSize: 7 });
  }, 120_000);
  afterAll(async () => {
    await f?.close();
    if (scratch) await removeScratchDir(scratch);
  });

  const fleet = (dir: string, ...extra: string[]) =>
    cli(['fleet', 'aws', '--region', 'us-east-1', '--endpoint', f.endpoint, '--output-dir', path.join(scratch, dir), '--filter', 'tag:env=prod', '--concurrency', '6', ...extra]);
  const load = async (dir: string) => JSON.parse(await readFile(path.join(scratch, dir, 'summary.json'), 'utf8')) as FleetSummary;
  const rowsOf = (s: FleetSummary) => s.instances.map(({ report: _r, ...row }) => row);

  it('scans every matching instance, reports each, lists the failed one, and cleans up', async () => {
    const { code } = await fleet('all');
    expect(code).toBe(2);
    const summary = await load('all');
    expect(summary.totals).toMatchObject({ instances: 45, scanned: 44, failed: 1 });
    const failed = summary.instances.find((r) => r.status === 'failed')!;
    expect(failed.instance).toBe(ids[7]);
    expect(failed.reason).toMatch(/InvalidVolume\.NotFound|does not exist/);
    const infectedRows = summary.instances.filter((r) => r.verdict === 'critical').map((r) => r.instance).sort();
    expect(infectedRows).toEqual(infectedIds.filter((id) => ids.indexOf(id) < 45).sort());
    // A clean instance's verdict is "none"; what --fail-on high does not act on is only counted.
    expect(summary.totals.byVerdict).toMatchObject({ critical: 5, high: 0, medium: 0, low: 0, info: 0, none: 39 });
    expect(summary.instances.filter((r) => r.verdict === 'none' && r.status === 'scanned').every((r) => r.bySeverity.critical + r.bySeverity.high === 0)).toBe(true);
    expect(summary.instances.find((r) => r.instance === infectedIds[0])!.families).toEqual(['aliyun-duns', 'cleanfda', 'kinsing', 'outlaw', 'skidmap']);
    expect(summary.instances.filter((r) => r.status === 'scanned').every((r) => r.reportStatus === 'complete')).toBe(true);
    expect((await readdir(path.join(scratch, 'all', 'us-east-1'))).length).toBe(44);
    const csv = await readFile(path.join(scratch, 'all', 'summary.csv'), 'utf8');
    expect(csv.split('\n')[0]).toBe('instance,region,status,volumes,verdict,critical,high,medium,low,info,families,findings,errors,reason');
    expect(csv.trim().split('\n')).toHaveLength(46);
    const made = [...f.snapshots.values()];
    expect(made.length).toBeGreaterThanOrEqual(44);
    expect(made.every((s) => s.deleted)).toBe(true);
  });

  it('splits the fleet into shards that merge into the unsharded summary', async () => {
    for (const i of [0, 1, 2]) await fleet(`shard${i}`, '--shard', `${i}/3`);
    const sizes = await Promise.all([0, 1, 2].map(async (i) => (await load(`shard${i}`)).totals.instances));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(45);
    expect(Math.min(...sizes)).toBeGreaterThan(5);
    const merged = await cli(['merge', ...[0, 1, 2].map((i) => path.join(scratch, `shard${i}`)), '--output-dir', path.join(scratch, 'merged')]);
    expect(merged.code).toBe(2);
    expect(rowsOf(await load('merged'))).toEqual(rowsOf(await load('all')));
    // merge takes the verdicts again at its own threshold, from the counts.
    const none = await cli(['merge', ...[0, 1, 2].map((i) => path.join(scratch, `shard${i}`)), '--output-dir', path.join(scratch, 'merged-none'), '--fail-on', 'none']);
    expect(none.code).toBe(2);
    const relaxed = await load('merged-none');
    expect(relaxed.instances.every((r) => r.verdict === 'none')).toBe(true);
    expect(relaxed.instances.map((r) => r.bySeverity)).toEqual((await load('all')).instances.map((r) => r.bySeverity));
  });

  it('resumes: instances with a report are not scanned again', async () => {
    const before = f.actions.filter((a) => a === 'CreateSnapshot').length;
    const { code } = await fleet('all', '--resume');
    expect(code).toBe(2);
    const after = f.actions.filter((a) => a === 'CreateSnapshot').length;
    // Only the failed instance is tried again (once per attempt).
    expect(after - before).toBe(3);
    expect(rowsOf(await load('all'))).toHaveLength(45);
  });

  it('bounds each instance scan with --time-budget: a spent budget gives incomplete reports, not clean ones', async () => {
    const { code } = await fleet('budget', '--shard', '0/3', '--time-budget', '0s');
    const summary = await load('budget');
    const scanned = summary.instances.filter((r) => r.status === 'scanned');
    expect(scanned.length).toBeGreaterThan(5);
    expect(scanned.every((r) => r.reportStatus === 'incomplete' && r.errors === 1 && r.findings === 0)).toBe(true);
    expect(code).toBe(summary.totals.failed > 0 ? 2 : 3);
  });

  it('resumes only from reports that are whole, of their instance, and complete', async () => {
    const dir = path.join(scratch, 'all', 'us-east-1');
    const [cut, withErrors, other] = [ids[0]!, ids[1]!, ids[2]!];
    const text = await readFile(path.join(dir, `${cut}.json`), 'utf8');
    await writeFile(path.join(dir, `${cut}.json`), text.slice(0, text.length / 2));
    const incomplete = JSON.parse(await readFile(path.join(dir, `${withErrors}.json`), 'utf8'));
    incomplete.errors = [{ message: 'read past the end of the disk' }];
    await writeFile(path.join(dir, `${withErrors}.json`), JSON.stringify(incomplete));
    const foreign = JSON.parse(await readFile(path.join(dir, `${other}.json`), 'utf8'));
    foreign.target = `aws:instance/${ids[4]}`;
    await writeFile(path.join(dir, `${other}.json`), JSON.stringify(foreign));
    const before = f.actions.filter((a) => a === 'CreateSnapshot').length;
    expect((await fleet('all', '--resume')).code).toBe(2);
    // The three are scanned again, and the failed instance tried again (three attempts).
    expect(f.actions.filter((a) => a === 'CreateSnapshot').length - before).toBe(6);
    for (const id of [cut, withErrors, other]) expect(JSON.parse(await readFile(path.join(dir, `${id}.json`), 'utf8'))).toMatchObject({ target: `aws:instance/${id}`, errors: [] });
    expect((await readdir(dir)).filter((n) => !n.endsWith('.json') || n.startsWith('.'))).toEqual([]);
  });

  it('merges summaries written before verdicts (schema 1) by their highest severity', async () => {
    const old = path.join(scratch, 'schema1');
    await mkdir(old, { recursive: true });
    const row = { region: 'us-east-1', status: 'scanned', volumes: 1, families: [], findings: 2, errors: 0 };
    const instances = [
      { ...row, instance: 'i-old-infected', highestSeverity: 'critical' },
      { ...row, instance: 'i-old-clean', highestSeverity: 'info' },
    ];
    await writeFile(path.join(old, 'summary.json'), JSON.stringify({ schemaVersion: 1, instances }));
    const { code } = await cli(['merge', old, path.join(scratch, 'shard0'), '--output-dir', path.join(scratch, 'merged-old')]);
    expect(code).toBe(2);
    const merged = await load('merged-old');
    expect(merged.instances.filter((r) => r.instance.startsWith('i-old')).map((r) => `${r.instance}:${r.verdict}`)).toEqual(['i-old-clean:none', 'i-old-infected:critical']);
  });

  it('shards by a stable hash, from the index an orchestrator sets', () => {
    expect(parseShard('env/4', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, count: 4 });
    expect(parseShard('env/4', { AWS_BATCH_JOB_ARRAY_INDEX: '3' })).toEqual({ index: 3, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/below/);
    const owners = ids.map((id) => [0, 1, 2, 3].filter((i) => inShard(id, { index: i, count: 4 })));
    expect(owners.every((o) => o.length === 1)).toBe(true);
  });
});
