/**
 * SIGTERM and SIGINT at every phase of `fleet aliyun` and of `scan aliyun:instance/…`
 * and `scan aliyun:disk/…`, sent to a real minescan process
 * while the fake ECS endpoint holds the answer that marks the phase: the listing, a
 * CreateSnapshot or CreateDisk whose answer is still on its way, the waits, AttachDisk,
 * a disk attached and open while the next is created, a disk being read (seen in the
 * process's open files), a scan done and its disks being released before its report
 * is written, the next instance after a report was written; and during the throttled
 * retries of a create whose answer was lost; for a single scan also the wait for an
 * attached disk's device (one that never appears). The fake's disks pass through Creating, Attaching and Detaching and
 * refuse DetachDisk/DeleteDisk in the wrong state, as ECS does. After each: exit
 * 130/143, no snapshot or disk minescan created is left, nothing is attached, and every
 * report on disk is one the same scan writes when nothing stops it (a stopped single
 * scan writes none, and prints none).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { mkdir, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantedImages, setCloudTestEnv } from '../helpers/cloud-test-env.js';
import { startFakeAliyun, type FakeAliyun, type FakeAliyunOptions } from '../helpers/fake-aliyun.js';
import { signalAt, startCli, STOP_SIGNALS, type CliProcess } from '../helpers/cli-process.js';
import { comparableReport, filesUnder, reportsUnder } from '../helpers/fleet-output.js';
import { cli } from '../helpers/run-cli.js';

/** Whether process `pid` has `file` open (its /proc fd table). */
async function holdsOpen(pid: number, file: string): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return targets.includes(file);
}

/** Polls until `reached`, failing if the process exits first. */
async function until(run: CliProcess, reached: () => Promise<boolean>): Promise<void> {
  let exited = false;
  void run.exit.then(() => (exited = true));
  while (!(await reached())) {
    if (exited) throw new Error(`minescan exited before the phase: ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

// i-a has two disks, i-b one; with --concurrency 1, i-a is scanned first.
const PHASES = [
  { phase: 'listing', hold: 'DescribeInstances', skip: 0, reports: [] },
  { phase: 'snapshot create in flight', hold: 'CreateSnapshot', skip: 0, reports: [] },
  { phase: 'waiting for the snapshot', hold: 'DescribeSnapshots', skip: 0, reports: [] },
  { phase: 'disk create in flight', hold: 'CreateDisk', skip: 0, reports: [] },
  { phase: 'waiting for the disk (Creating)', hold: 'DescribeDisks', skip: 1, reports: [] },
  { phase: 'attaching', hold: 'AttachDisk', skip: 0, reports: [] },
  { phase: 'a disk attached and open, the next being created', hold: 'CreateDisk', skip: 1, reports: [] },
  // i-a's disks read, the first being detached: its report is written once both are gone.
  { phase: 'writing (a scan done, its disks being released)', hold: 'DetachDisk', skip: 0, reports: [] },
  { phase: 'writing (the next instance after a report)', hold: 'CreateSnapshot', skip: 2, reports: ['cn-hangzhou/i-a.json'] },
] as const;

describe('signals during fleet aliyun', () => {
  let scratch: string;
  let clean: string;
  let infected: string;
  const fakes: FakeAliyun[] = [];
  let baseline: Map<string, unknown>;
  let n = 0;

  beforeAll(async () => {
    setCloudTestEnv();
    scratch = await makeScratchDir();
    ({ infected, clean } = await plantedImages(scratch, { sizeMiB: 24, cleanTable: 'mbr' }));
    infected = await realpath(infected);
    const f = await fake();
    const dir = path.join(scratch, 'baseline');
    process.env.MINESCAN_DEVICE_DIR = f.deviceDir;
    process.env.MINESCAN_ALIYUN_METADATA_URL = f.metadataUrl;
    expect((await cli(fleetArgs(f, dir))).code).toBe(1);
    baseline = await reportsUnder(dir);
    expect([...baseline.keys()]).toEqual(['cn-hangzhou/i-a.json', 'cn-hangzhou/i-b.json']);
    await nothingLeft(f);
  }, 180_000);
  afterAll(async () => {
    delete process.env.MINESCAN_DEVICE_DIR;
    delete process.env.MINESCAN_ALIYUN_METADATA_URL;
    for (const f of fakes) {
      f.holds.releaseAll();
      await f.close();
    }
    if (scratch) await removeScratchDir(scratch);
  });

  const fake = async (extra: Partial<FakeAliyunOptions> = {}) => {
    const deviceDir = path.join(scratch, `by-id-${n++}`);
    await mkdir(deviceDir);
    const f = await startFakeAliyun({
      scanner: 'i-scanner',
      zone: 'cn-hangzhou-h',
      deviceDir,
      sourceDisks: {
        'd-a-system': { image: clean, instance: 'i-a', type: 'system' },
        'd-a-data': { image: clean, instance: 'i-a', type: 'data' },
        'd-b-system': { image: infected, instance: 'i-b', type: 'system' },
      },
      ...extra,
    });
    fakes.push(f);
    return Object.assign(f, { deviceDir });
  };
  const fleetArgs = (f: FakeAliyun, dir: string) => ['fleet', 'aliyun', '--region', 'cn-hangzhou', '--endpoint', f.endpoint, '--output-dir', dir, '--concurrency', '1'];

  const nothingLeft = async (f: FakeAliyun & { deviceDir: string }) => {
    expect([...f.snapshots.values()].filter((s) => !s.deleted).map((s) => s.id)).toEqual([]);
    expect([...f.disks.values()].filter((d) => d.fromSnapshot && !d.deleted).map((d) => `${d.id}:${d.status}`)).toEqual([]);
    expect(await readdir(f.deviceDir)).toEqual([]);
    for (const id of ['d-a-system', 'd-a-data', 'd-b-system']) expect(f.disks.get(id)).toMatchObject({ status: 'In_use', deleted: false });
  };

  it.each(STOP_SIGNALS)('%s during the throttled retries of a create whose answer was lost: ends at once, what the lost answer made is removed', async (signal, exitCode) => {
    const f = await fake();
    const dir = path.join(scratch, `fleet-${signal}-throttled-create`);
    f.loseCreateAnswers = 1;
    const held = f.holds.hold('CreateSnapshot');
    // Backoffs of up to 20 s and 120 s of retries: the release waits for a create in flight,
    // so without the signal ending its retries the test would hang (its timeout catches it).
    const run = startCli(fleetArgs(f, dir), { MINESCAN_DEVICE_DIR: f.deviceDir, MINESCAN_ALIYUN_METADATA_URL: f.metadataUrl, MINESCAN_CLOUD_BACKOFF_MS: '60000' });
    await Promise.race([held.reached, run.exit.then(() => Promise.reject(new Error(run.stderr())))]);
    f.throttleActions = ['CreateSnapshot'];
    held.release();
    // Most likely in its backoff by now; either way no create may be sent after the signal.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const creates = () => f.actions.filter((a) => a === 'CreateSnapshot').length;
    const sent = creates();
    run.child.kill(signal);
    expect(await run.exit).toBe(exitCode);
    expect(creates()).toBe(sent);
    expect(f.snapshots.size).toBe(1);
    await nothingLeft(f);
    expect(await filesUnder(dir)).toEqual([]);
  }, 60_000);

  describe.each(STOP_SIGNALS)('%s', (signal, exitCode) => {
    it.each(PHASES)('$phase: nothing left in the account, no summary, every report whole and right', async (phase) => {
      const f = await fake();
      const dir = path.join(scratch, `fleet-${signal}-${phase.phase.replace(/\W+/g, '-')}`);
      const { code, stderr } = await signalAt(f.holds, phase, fleetArgs(f, dir), signal, { MINESCAN_DEVICE_DIR: f.deviceDir, MINESCAN_ALIYUN_METADATA_URL: f.metadataUrl });
      expect(code).toBe(exitCode);
      expect(stderr).not.toMatch(/cleanup of .* failed|did not finish/);
      await nothingLeft(f);
      const files = await filesUnder(dir);
      expect(files).toEqual(phase.reports);
      for (const file of files) expect(await comparableReport(path.join(dir, file))).toEqual(baseline.get(file));
      if (phase.reports.length === 0) return;
      // --resume trusts the report written before the stop and scans the rest.
      const creates = f.actions.filter((a) => a === 'CreateSnapshot').length;
      process.env.MINESCAN_DEVICE_DIR = f.deviceDir;
      process.env.MINESCAN_ALIYUN_METADATA_URL = f.metadataUrl;
      expect((await cli(fleetArgs(f, dir).concat('--resume'))).code).toBe(1);
      expect(f.actions.filter((a) => a === 'CreateSnapshot').length - creates).toBe(1);
      const summary = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8'));
      expect(summary.instances.map((r: { instance: string; verdict: string }) => `${r.instance}:${r.verdict}`)).toEqual(['i-a:none', 'i-b:critical']);
      await nothingLeft(f);
    }, 60_000);

    it('scanning: i-b\'s disk open and being read, no report of it', async () => {
      const f = await fake();
      const dir = path.join(scratch, `fleet-${signal}-reading`);
      const run = startCli(fleetArgs(f, dir), { MINESCAN_DEVICE_DIR: f.deviceDir, MINESCAN_ALIYUN_METADATA_URL: f.metadataUrl });
      // i-b's one temporary disk serves the infected image: once minescan holds it open, its
      // disks are all acquired and the scan reads it (no cloud answer marks this phase).
      await until(run, () => holdsOpen(run.child.pid!, infected));
      run.child.kill(signal);
      expect(await run.exit).toBe(exitCode);
      await nothingLeft(f);
      expect(f.actions.filter((a) => a === 'AttachDisk')).toHaveLength(3);
      // i-a's report was written and is the one an unstopped run writes; i-b, stopped mid-read, has none.
      const files = await filesUnder(dir);
      expect(files).toEqual(['cn-hangzhou/i-a.json']);
      expect(await comparableReport(path.join(dir, files[0]!))).toEqual(baseline.get(files[0]!));
    }, 60_000);
  });
  describe.each(STOP_SIGNALS)('%s during a single scan', (signal, exitCode) => {
    const env = (f: FakeAliyun & { deviceDir: string }) => ({ MINESCAN_DEVICE_DIR: f.deviceDir, MINESCAN_ALIYUN_METADATA_URL: f.metadataUrl });
    /** The scan's command line, its JSON report to a file that must never appear; the folder it would be in. */
    const scanArgs = async (f: FakeAliyun, target: string, name: string) => {
      const out = path.join(scratch, `scan-${signal}-${name.replace(/\W+/g, '-')}-${n++}`);
      await mkdir(out);
      return { out, args: ['scan', target, '--format', 'json', '--output', path.join(out, 'report.json'), '--region', 'cn-hangzhou', '--endpoint', f.endpoint] };
    };
    const stoppedRight = async (f: FakeAliyun & { deviceDir: string }, out: string, run: { code: number; stdout: string; stderr: string }) => {
      expect(run.code).toBe(exitCode);
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toMatch(/cleanup of .* failed|did not finish/);
      expect(await readdir(out)).toEqual([]);
      await nothingLeft(f);
    };

    // i-b has one disk, the infected one; aliyun:disk/d-b-system is that disk.
    const SCAN_PHASES = [
      { phase: 'listing the instance\'s disks', target: 'aliyun:instance/i-b', hold: 'DescribeDisks', skip: 0, made: 0 },
      { phase: 'snapshot create in flight', target: 'aliyun:instance/i-b', hold: 'CreateSnapshot', skip: 0, made: 1 },
      { phase: 'waiting for the snapshot', target: 'aliyun:instance/i-b', hold: 'DescribeSnapshots', skip: 0, made: 1 },
      { phase: 'disk create in flight', target: 'aliyun:instance/i-b', hold: 'CreateDisk', skip: 0, made: 2 },
      { phase: 'waiting for the disk (Creating)', target: 'aliyun:instance/i-b', hold: 'DescribeDisks', skip: 1, made: 2 },
      { phase: 'attaching', target: 'aliyun:instance/i-b', hold: 'AttachDisk', skip: 0, made: 2 },
      { phase: 'writing the report (the scan done, its disk being released)', target: 'aliyun:instance/i-b', hold: 'DetachDisk', skip: 0, made: 2 },
      { phase: 'disk create in flight', target: 'aliyun:disk/d-b-system', hold: 'CreateDisk', skip: 0, made: 2 },
      { phase: 'writing the report (the scan done, its disk being released)', target: 'aliyun:disk/d-b-system', hold: 'DetachDisk', skip: 0, made: 2 },
    ] as const;

    it.each(SCAN_PHASES)('$target, $phase: exits with the signal, removes what it made, writes and prints no report', async (phase) => {
      const f = await fake();
      const { out, args } = await scanArgs(f, phase.target, phase.phase);
      await stoppedRight(f, out, await signalAt(f.holds, phase, args, signal, env(f)));
      expect(f.snapshots.size + [...f.disks.values()].filter((d) => d.fromSnapshot).length).toBe(phase.made);
    }, 60_000);

    it('aliyun:instance/i-b, waiting for the device of the attached disk: exits with the signal, detaches and removes it', async () => {
      const f = await fake({ devicesAppear: false });
      const { out, args } = await scanArgs(f, 'aliyun:instance/i-b', 'device');
      const run = startCli(args, env(f));
      // The disk is attached once a look after AttachDisk sees it In_use (the fake's disks show each state once); its device never appears.
      const lookedAfterAttach = () => f.actions.slice(f.actions.indexOf('AttachDisk') + 1).filter((a) => a === 'DescribeDisks').length;
      await until(run, async () => f.actions.includes('AttachDisk') && lookedAfterAttach() >= 2);
      run.child.kill(signal);
      await stoppedRight(f, out, { code: await run.exit, stdout: run.stdout(), stderr: run.stderr() });
      expect(f.actions.filter((a) => a === 'DetachDisk')).toHaveLength(1);
    }, 60_000);

    it('aliyun:instance/i-b, scanning: the attached disk open and being read, no report', async () => {
      const f = await fake();
      const { out, args } = await scanArgs(f, 'aliyun:instance/i-b', 'scanning');
      const run = startCli(args, env(f));
      await until(run, () => holdsOpen(run.child.pid!, infected));
      run.child.kill(signal);
      await stoppedRight(f, out, { code: await run.exit, stdout: run.stdout(), stderr: run.stderr() });
      expect(f.actions.filter((a) => a === 'DetachDisk')).toHaveLength(1);
    }, 60_000);
  });
});
