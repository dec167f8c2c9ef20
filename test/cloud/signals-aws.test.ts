/**
 * SIGTERM and SIGINT at every phase of `scan aws:instance` and `fleet aws`, sent to a
 * real minescan process while the fake EC2/EBS endpoint holds the answer that marks
 * the phase (the listing, a CreateSnapshot whose answer is still on its way, the wait
 * for the snapshot, a block read, the scan done and its snapshot being deleted before
 * the report is written, the next instance after a report was written), and during a
 * throttled backoff. The AWS flow attaches nothing (EBS direct APIs).
 * After each: exit 130/143, no snapshot minescan created is left, and every report on
 * disk is one the same scan writes when nothing stops it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantedImages, setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { startFakeAws, type FakeAws } from '../helpers/fake-aws.js';
import { signalAt, startCli, STOP_SIGNALS } from '../helpers/cli-process.js';
import { comparableReport, filesUnder, reportsUnder } from '../helpers/fleet-output.js';
import { cli } from '../helpers/run-cli.js';

/** The phases of a run, each marked by the answer the fake holds. */
const PHASES = [
  { phase: 'listing', hold: 'DescribeInstances', skip: 0 },
  { phase: 'create in flight', hold: 'CreateSnapshot', skip: 0 },
  { phase: 'waiting for the snapshot', hold: 'DescribeSnapshots', skip: 0 },
  { phase: 'scanning', hold: 'GetSnapshotBlock', skip: 0 },
  // The scan has read what it needed and releases its snapshot; its report is written next.
  { phase: 'writing (the scan done, its snapshot being deleted)', hold: 'DeleteSnapshot', skip: 0 },
] as const;

describe('signals during AWS runs', () => {
  let scratch: string;
  let clean: string;
  let infected: string;
  const fakes: FakeAws[] = [];
  let baseline: Map<string, unknown>;

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    ({ infected, clean } = await plantedImages(scratch, { sizeMiB: 24, cleanTable: 'gpt' }));
    // What the fleet writes when nothing stops it.
    const f = await fake();
    const dir = path.join(scratch, 'baseline');
    expect((await cli(fleetArgs(f, dir))).code).toBe(1);
    baseline = await reportsUnder(dir);
    expect([...baseline.keys()]).toEqual(['us-east-1/i-a.json', 'us-east-1/i-b.json']);
  }, 180_000);
  afterAll(async () => {
    for (const f of fakes) {
      f.holds.releaseAll();
      await f.close();
    }
    if (scratch) await removeScratchDir(scratch);
  });

  const fake = async () => {
    const f = await startFakeAws({
      volumes: { 'vol-a': clean, 'vol-b': infected },
      instances: { 'i-a': ['vol-a'], 'i-b': ['vol-b'] },
      pendingPolls: 1,
    });
    fakes.push(f);
    return f;
  };
  const fleetArgs = (f: FakeAws, dir: string) => ['fleet', 'aws', '--region', 'us-east-1', '--endpoint', f.endpoint, '--output-dir', dir, '--concurrency', '1'];

  const nothingLeft = (f: FakeAws) => {
    const made = [...f.snapshots.values()].filter((s) => s.tags['minescan:created-by'] === 'minescan');
    expect(made.filter((s) => !s.deleted).map((s) => s.id)).toEqual([]);
    return made;
  };

  it('a second signal does not cut the removal short', async () => {
    const f = await fake();
    const held = f.holds.hold('CreateSnapshot');
    const run = startCli(['scan', 'aws:instance/i-b', '--region', 'us-east-1', '--endpoint', f.endpoint]);
    await held.reached;
    run.child.kill('SIGTERM');
    await run.waitForStderr(/SIGTERM: stopping/);
    run.child.kill('SIGINT');
    await run.waitForStderr(/SIGINT: still removing/);
    held.release();
    expect(await run.exit).toBe(143);
    expect(nothingLeft(f)).toHaveLength(1);
  }, 60_000);

  it.each(STOP_SIGNALS)('%s while a retried CreateSnapshot is in flight after a lost answer: both snapshots are deleted', async (signal, exitCode) => {
    const f = await fake();
    f.loseCreateAnswers = 1;
    const { code, stdout } = await signalAt(f.holds, { hold: 'CreateSnapshot', skip: 1 }, ['scan', 'aws:instance/i-b', '--region', 'us-east-1', '--endpoint', f.endpoint], signal);
    expect(code).toBe(exitCode);
    expect(stdout).toBe('');
    expect(f.loseCreateAnswers).toBe(0);
    expect(nothingLeft(f)).toHaveLength(2);
  }, 60_000);

  describe.each(STOP_SIGNALS)('%s during a throttled backoff', (signal, exitCode) => {
    // Backoffs of up to 20 s and 120 s of retries: the release waits for a create in
    // flight, so without the signal ending its retries the test would hang (its timeout catches it).
    const slow = { MINESCAN_CLOUD_BACKOFF_MS: '60000' };
    /** Lets the held answer go, gives minescan a moment to start its backoff, signals; nothing is sent after the signal. */
    const signalInBackoff = async (f: FakeAws, action: string, args: string[], onReached: () => void = () => undefined) => {
      const held = f.holds.hold(action);
      const run = startCli(args, slow);
      await Promise.race([held.reached, run.exit.then(() => Promise.reject(new Error(run.stderr())))]);
      onReached();
      held.release();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const sent = f.requestsByAction.get(action);
      run.child.kill(signal);
      const code = await run.exit;
      expect(f.requestsByAction.get(action)).toBe(sent);
      return code;
    };

    it('scan aws:instance, a create retried after a lost answer and throttled: exits at once, the snapshot the lost answer made is deleted', async () => {
      const f = await fake();
      f.loseCreateAnswers = 1;
      const code = await signalInBackoff(f, 'CreateSnapshot', ['scan', 'aws:instance/i-b', '--region', 'us-east-1', '--endpoint', f.endpoint], () => (f.options.throttleActions = ['CreateSnapshot']));
      expect(code).toBe(exitCode);
      expect(nothingLeft(f)).toHaveLength(1);
    }, 60_000);

    it('fleet aws, a create throttled: exits at once, nothing made, no report', async () => {
      const f = await fake();
      f.options.throttleActions = ['CreateSnapshot'];
      const dir = path.join(scratch, `fleet-backoff-${signal}`);
      expect(await signalInBackoff(f, 'CreateSnapshot', fleetArgs(f, dir))).toBe(exitCode);
      expect(nothingLeft(f)).toEqual([]);
      expect(await filesUnder(dir)).toEqual([]);
    }, 60_000);
  });

  describe.each(STOP_SIGNALS)('%s', (signal, exitCode) => {
    it.each(PHASES)('scan aws:instance, $phase: exits with the signal, removes its snapshots, prints no report', async (phase) => {
      const f = await fake();
      const out = path.join(scratch, `scan-${signal}-${phase.phase.replace(/\W+/g, '-')}`);
      await mkdir(out);
      const report = path.join(out, 'report.json');
      const args = ['scan', 'aws:instance/i-b', '--format', 'json', '--region', 'us-east-1', '--endpoint', f.endpoint];
      const { code, stdout } = await signalAt(f.holds, phase, /scanning|writing/.test(phase.phase) ? [...args, '--output', report] : args, signal);
      expect(code).toBe(exitCode);
      expect(stdout).toBe('');
      expect(await readdir(out)).toEqual([]);
      const made = nothingLeft(f);
      // A create in flight when the signal came is still undone; none starts after it.
      if (phase.phase === 'listing') expect(made).toEqual([]);
      else expect(made).toHaveLength(1);
    }, 60_000);

    it.each([...PHASES, { phase: 'writing (the next instance after a report)', hold: 'CreateSnapshot', skip: 1 }])(
      'fleet aws, $phase: no snapshot left, no summary, every report whole and right',
      async (phase) => {
        const f = await fake();
        const dir = path.join(scratch, `fleet-${signal}-${phase.phase.replace(/\W+/g, '-')}`);
        const { code } = await signalAt(f.holds, phase, fleetArgs(f, dir), signal);
        expect(code).toBe(exitCode);
        nothingLeft(f);
        const files = await filesUnder(dir);
        // Only the instance scanned before the stop has a report, and it is the one an unstopped run writes.
        expect(files).toEqual(phase.skip === 1 ? ['us-east-1/i-a.json'] : []);
        for (const file of files) expect(await comparableReport(path.join(dir, file))).toEqual(baseline.get(file));
        if (phase.skip !== 1) return;
        // --resume finishes the audit: the written report is trusted, the other instance is scanned.
        const creates = f.actions.filter((a) => a === 'CreateSnapshot').length;
        expect((await cli([...fleetArgs(f, dir), '--resume'])).code).toBe(1);
        expect(f.actions.filter((a) => a === 'CreateSnapshot').length - creates).toBe(1);
        const summary = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8'));
        expect(summary.instances.map((r: { instance: string; verdict: string }) => `${r.instance}:${r.verdict}`)).toEqual(['i-a:none', 'i-b:critical']);
        nothingLeft(f);
      },
      60_000,
    );
  });
});
