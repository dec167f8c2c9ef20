/**
 * A fleet audit's machine-readable outputs, against a fake AWS account (real SDK
 * clients, fake EC2 and EBS on 127.0.0.1): `--sarif` writes summary.sarif with one run
 * per instance (the one that could not be scanned a run that did not succeed), which
 * the SARIF Multitool accepts, and `--ignore` entries scoped to an instance accept its
 * findings there only: its verdict is none, the other infected instance's is not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as Sarif from 'sarif';
import { cli } from '../helpers/run-cli.js';
import type { FleetSummary } from '../../src/fleet/summary.js';
import type { ScanReport } from '../../src/model/report.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantedImages, setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { startFakeAws, type FakeAws } from '../helpers/fake-aws.js';
import { multitoolValidate } from '../helpers/sarif-validate.js';

const [accepted, infected, gone] = ['i-000000000000000a1', 'i-000000000000000a2', 'i-000000000000000a3'];

describe('minescan fleet --sarif --ignore', () => {
  let scratch: string;
  let f: FakeAws;
  let summary: FleetSummary;
  let code: number;

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    const images = await plantedImages(scratch, { sizeMiB: 24, cleanTable: 'gpt' });
    // The third instance's volume does not exist: its CreateSnapshot fails.
    f = await startFakeAws({ volumes: { 'vol-a1': images.infected, 'vol-a2': images.infected }, instances: { [accepted]: ['vol-a1'], [infected]: ['vol-a2'], [gone]: ['vol-a3'] } });
    const ignore = path.join(scratch, 'accepted.yaml');
    await writeFile(ignore, `ignore:\n  - rule: "*"\n    path: "/**"\n    instance: ${accepted}\n    reason: the honeypot\n`);
    await mkdir(path.join(scratch, 'out'));
    ({ code } = await cli(['fleet', 'aws', '--region', 'us-east-1', '--endpoint', f.endpoint, '--output-dir', path.join(scratch, 'out'), '--sarif', '--ignore', ignore]));
    summary = JSON.parse(await readFile(path.join(scratch, 'out', 'summary.json'), 'utf8'));
  }, 600_000);
  afterAll(async () => {
    await f?.close();
    if (scratch) await removeScratchDir(scratch);
  });

  it('accepts the findings of the instance the entry names, and only there', async () => {
    expect(code).toBe(2);
    const row = (id: string) => summary.instances.find((r) => r.instance === id)!;
    expect(row(accepted)).toMatchObject({ verdict: 'none', bySeverity: { critical: 0, high: 0, medium: 0, low: 0, info: 0 } });
    expect(row(accepted).suppressed).toBe(row(accepted).findings);
    expect(row(infected).verdict).toBe('critical');
    expect(row(infected).suppressed).toBe(0);
    const report = JSON.parse(await readFile(path.join(scratch, 'out', row(accepted).report!), 'utf8')) as ScanReport;
    expect(report.findings.length).toBeGreaterThan(10);
    expect(report.findings.every((x) => x.suppressed?.reason === 'the honeypot')).toBe(true);
  });

  it('writes one SARIF run per instance, the failed one unsuccessful, that the SARIF Multitool accepts', async () => {
    const log = JSON.parse(await readFile(path.join(scratch, 'out', 'summary.sarif'), 'utf8')) as Sarif.Log;
    expect(log.runs.map((r) => r.automationDetails?.id).sort()).toEqual([accepted, infected, gone].map((id) => `us-east-1/${id}/`));
    const run = (id: string) => log.runs.find((r) => r.automationDetails?.id === `us-east-1/${id}/`)!;
    expect(run(gone).invocations![0]!.executionSuccessful).toBe(false);
    expect(run(infected).results!.length).toBe(summary.instances.find((r) => r.instance === infected)!.findings);
    expect(run(accepted).results!.every((r) => r.suppressions?.[0]?.justification === 'the honeypot')).toBe(true);
    const judged = await multitoolValidate(path.join(scratch, 'out'), path.join(scratch, 'multitool.log'));
    expect(judged.filter((j) => j.level === 'error')).toEqual([]);
    // The warnings allowed, and why, are those of test/report/corpus-outputs.test.ts.
    expect(judged.filter((j) => j.level === 'warning' && !['SARIF2005', 'SARIF2017'].includes(j.rule))).toEqual([]);
  });
});
