/**
 * The scheduled fleet audit: every instance of this shard is snapshotted, scanned and
 * cleaned up, a bounded number at a time; each gets its own JSON report, a failed one
 * is retried with backoff and then listed as failed with the reason while the rest of
 * the fleet goes on; --resume skips instances whose report is already written.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { ScanInterruptedError, scanTarget, type ScanOptions } from '../engine/scan.js';
import type { ScanReport } from '../report/report.js';
import { inShard, type Shard } from '../../cloud/fleet/shard.js';
import type { FleetInstance } from '../../cloud/fleet/aws-instances.js';
import { rowFromReport, summarize, writeSummary, type FleetRow, type FleetSummary } from './summary.js';
import { Progress } from './progress.js';

export interface FleetOptions {
  provider: 'aws' | 'aliyun';
  instances: FleetInstance[];
  outputDir: string;
  shard?: Shard;
  concurrency: number;
  resume: boolean;
  attempts?: number;
  scan: Omit<ScanOptions, 'cloud'> & { cloud?: { endpoint?: string; keepSnapshots?: boolean; scannerInstance?: string; cacheBytes?: number } };
  progress: { write: (s: string) => void; tty: boolean };
}

export async function runFleet(options: FleetOptions): Promise<FleetSummary> {
  const mine = options.shard ? options.instances.filter((i) => inShard(i.id, options.shard!)) : options.instances;
  const state = { total: mine.length, done: 0, failed: 0, bytesRead: 0 };
  const progress = new Progress(options.progress.write, options.progress.tty, state);
  const limit = pLimit(Math.max(1, options.concurrency));
  const attempts = options.attempts ?? Number(process.env.MINESCAN_FLEET_ATTEMPTS ?? 3);
  await fsp.mkdir(options.outputDir, { recursive: true });

  const rows = await Promise.all(
    mine.map((instance) =>
      limit(async (): Promise<FleetRow> => {
        const rel = path.join(instance.region, `${instance.id}.json`);
        const file = path.join(options.outputDir, rel);
        if (options.resume) {
          const prior = await readReport(file);
          if (prior) {
            state.done++;
            progress.instanceDone(instance.id, 'already scanned (resume)');
            return rowFromReport(instance.id, instance.region, prior, rel);
          }
        }
        let lastError = '';
        for (let attempt = 1; attempt <= attempts; attempt++) {
          try {
            const report = await scanTarget(`${options.provider}:instance/${instance.id}`, { ...options.scan, cloud: { ...options.scan.cloud, region: instance.region } });
            await fsp.mkdir(path.dirname(file), { recursive: true });
            await fsp.writeFile(file, JSON.stringify(report, null, 2) + '\n');
            state.done++;
            state.bytesRead += report.stats.bytesRead;
            const row = rowFromReport(instance.id, instance.region, report, rel);
            progress.instanceDone(instance.id, `${row.highestSeverity}, ${row.findings} findings`);
            return row;
          } catch (err) {
            // A stopped run writes no report and no summary: nothing half-done.
            if (err instanceof ScanInterruptedError) throw err;
            lastError = (err as Error).message;
            if (attempt < attempts) await sleep(Math.random() * Number(process.env.MINESCAN_CLOUD_BACKOFF_MS ?? 1000) * 2 ** attempt);
          }
        }
        state.failed++;
        progress.instanceDone(instance.id, `failed: ${lastError}`);
        return { instance: instance.id, region: instance.region, status: 'failed', volumes: 0, highestSeverity: 'none', families: [], findings: 0, errors: 0, reason: lastError };
      }),
    ),
  );
  progress.finish();
  const summary = summarize(rows);
  await writeSummary(options.outputDir, summary);
  return summary;
}

async function readReport(file: string): Promise<ScanReport | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as ScanReport;
  } catch {
    return undefined;
  }
}
