/**
 * The scheduled fleet audit: every instance of this shard is snapshotted, scanned and
 * cleaned up, a bounded number at a time; each gets its own JSON report, a failed one
 * is retried with backoff and then listed as failed with the reason while the rest of
 * the fleet goes on; --resume skips instances whose report is complete.
 *
 * Stopping (the signal aborts `signal`): no instance starts, scans in flight are
 * abandoned and write no report (whatever they return once their disks are gone is
 * not a verdict), and no summary is written. A report is written under a temporary
 * name and renamed, so a report on disk is always a whole one.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { scanTarget, type ScanOptions } from '../engine/scan.js';
import type { ScanReport } from '../model/report.js';
import { inShard, type Shard } from './shard.js';
import type { FleetInstance } from '../../cloud/instance-listing.js';
import type { CloudOptions } from '../../cloud/targets.js';
import { cloudTargetOpener } from '../../cloud/open-cloud-target.js';
import { emptyCounts, rowFromReport, summarize, writeSummary, type FailOn, type FleetRow, type FleetSummary } from './summary.js';
import { Progress } from './progress.js';
import type { IgnoreList } from '../report/ignore-file.js';
import { applyIgnores } from '../report/suppress.js';

export interface FleetOptions {
  provider: 'aws' | 'aliyun';
  instances: FleetInstance[];
  outputDir: string;
  shard?: Shard;
  concurrency: number;
  resume: boolean;
  attempts?: number;
  failOn?: FailOn;
  /** Aborted when minescan must stop (a signal). */
  signal?: AbortSignal;
  /** Called with a promise that settles once every started instance has settled (the shutdown waits for it). */
  onStarted?: (settled: Promise<unknown>) => void;
  scan: Omit<ScanOptions, 'opener' | 'signal'>;
  /** How instances are reached; the region is each instance's, the signal the fleet's. */
  cloud?: Omit<CloudOptions, 'region' | 'signal'>;
  progress: { write: (s: string) => void; tty: boolean };
  /** Accepted findings (--ignore): marked suppressed in each report, they make no verdict. */
  ignore?: IgnoreList;
}

/** The fleet was stopped: nothing after the stop was reported, no summary was written. */
export class FleetInterruptedError extends Error {
  constructor() {
    super('fleet interrupted: no summary written; run again with --resume');
    this.name = 'FleetInterruptedError';
  }
}

export async function runFleet(options: FleetOptions): Promise<FleetSummary> {
  const mine = options.shard ? options.instances.filter((i) => inShard(i.id, options.shard!)) : options.instances;
  const state = { total: mine.length, done: 0, failed: 0, bytesRead: 0 };
  const progress = new Progress(options.progress.write, options.progress.tty, state);
  const limit = pLimit(Math.max(1, options.concurrency));
  const attempts = options.attempts ?? Number(process.env.MINESCAN_FLEET_ATTEMPTS ?? 3);
  const failOn = options.failOn ?? 'high';
  const signal = options.signal ?? new AbortController().signal;
  await fsp.mkdir(options.outputDir, { recursive: true });

  const scanOne = async (instance: FleetInstance): Promise<FleetRow | undefined> => {
    if (signal.aborted) return undefined;
    const rel = path.join(instance.region, `${instance.id}.json`);
    const file = path.join(options.outputDir, rel);
    const target = `${options.provider}:instance/${instance.id}`;
    if (options.resume) {
      let prior = await readCompleteReport(file, target);
      // The ignore file of this run decides, not the one the report was written with.
      if (prior && options.ignore) prior = applyIgnores(prior, options.ignore, { instance: instance.id });
      if (prior) {
        state.done++;
        progress.instanceDone(instance.id, 'already scanned (resume)');
        return rowFromReport(instance.id, instance.region, prior, rel, failOn);
      }
    }
    let lastError = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (signal.aborted) return undefined;
      let report: ScanReport;
      try {
        const opener = cloudTargetOpener({ ...options.cloud, region: instance.region, signal });
        report = await scanTarget(target, { ...options.scan, signal, opener });
        if (options.ignore) report = applyIgnores(report, options.ignore, { instance: instance.id });
      } catch (err) {
        // Whatever failed once minescan is stopping failed because it stopped.
        if (signal.aborted) return undefined;
        lastError = (err as Error).message;
        if (attempt < attempts) await sleep(Math.random() * Number(process.env.MINESCAN_CLOUD_BACKOFF_MS ?? 1000) * 2 ** attempt, undefined, { signal }).catch(() => undefined);
        continue;
      }
      // A scan that ended after the stop may have read disks being taken away.
      if (signal.aborted || !(await writeWhole(file, report, signal))) return undefined;
      state.done++;
      state.bytesRead += report.stats.bytesRead;
      const row = rowFromReport(instance.id, instance.region, report, rel, failOn);
      progress.instanceDone(instance.id, `${row.verdict}, ${row.findings} findings`);
      return row;
    }
    state.failed++;
    progress.instanceDone(instance.id, `failed: ${lastError}`);
    return { instance: instance.id, region: instance.region, status: 'failed', volumes: 0, verdict: 'none', bySeverity: emptyCounts(), families: [], findings: 0, errors: 0, reason: lastError };
  };

  const all = Promise.all(mine.map((instance) => limit(() => scanOne(instance))));
  options.onStarted?.(all.catch(() => undefined));
  const rows = await all;
  if (signal.aborted) throw new FleetInterruptedError();
  progress.finish();
  const summary = summarize(rows.filter((r): r is FleetRow => r !== undefined), failOn);
  await writeSummary(options.outputDir, summary);
  return summary;
}

/** Writes the report under a temporary name and renames it into place, unless minescan stopped meanwhile. */
async function writeWhole(file: string, report: ScanReport, signal: AbortSignal): Promise<boolean> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  try {
    await fsp.writeFile(temp, JSON.stringify(report, null, 2) + '\n');
    if (signal.aborted) return false;
    await fsp.rename(temp, file);
    return true;
  } finally {
    await fsp.rm(temp, { force: true });
  }
}

/**
 * A report --resume may trust: whole (it parses), of this instance, of a scan that
 * finished, and complete. A report with `errors` missed something and is scanned
 * again, and so is any report marked interrupted.
 */
export async function readCompleteReport(file: string, target: string): Promise<ScanReport | undefined> {
  let report: ScanReport;
  try {
    report = JSON.parse(await fsp.readFile(file, 'utf8')) as ScanReport;
  } catch {
    return undefined;
  }
  if (report?.target !== target || !report.finishedAt || !Array.isArray(report.findings)) return undefined;
  // A report from before `status` existed is trusted when it has no errors; any report with errors is scanned again.
  if ((report.status !== undefined && report.status !== 'complete') || !Array.isArray(report.errors) || report.errors.length > 0) return undefined;
  return report;
}
