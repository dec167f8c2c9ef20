/**
 * The cloud commands: the fleet audit (fleet), combining shard outputs (merge) and
 * removing what killed runs left in an account (cleanup).
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ALL_CHECKS } from '../checks/index.js';
import { isSeverity } from '../model/finding.js';
import { RuleSet } from '../rules/ruleset.js';
import { loadHashLists } from '../hashes/load-hash-list.js';
import { shutdownSignal } from './shutdown.js';
import { track } from '../../cloud/cleanup.js';
import { cleanupAwsSnapshots, parseDuration } from '../../cloud/aws/cleanup.js';
import { parseTagFilter } from '../../cloud/instance-listing.js';
import { listAwsInstances } from '../../cloud/aws/instances.js';
import { listAliyunInstances } from '../../cloud/aliyun/instances.js';
import { cleanupAliyun } from '../../cloud/aliyun/cleanup.js';
import { parseShard } from '../fleet/shard.js';
import { runFleet } from '../fleet/run-fleet.js';
import { mergeSummaries, writeSummary, type FailOn, type FleetSummary } from '../fleet/summary.js';
import { writeFleetSarif } from '../report/fleet-sarif.js';
import { loadIgnoreFile } from '../report/ignore-file.js';
import { ruleLookup } from '../report/sarif.js';
import { EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_INCOMPLETE, UsageError, cacheSizeOption, timeBudgets, TIME_BUDGET_OPTIONS, type Io } from './io.js';

/** Audits every instance of a fleet (or of one shard of it), one report per instance and a summary. */
export async function fleetCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      region: { type: 'string', multiple: true, default: [] },
      filter: { type: 'string', multiple: true, default: [] },
      concurrency: { type: 'string', default: '4' },
      'output-dir': { type: 'string' },
      shard: { type: 'string' },
      resume: { type: 'boolean', default: false },
      'keep-snapshots': { type: 'boolean', default: false },
      'fail-on': { type: 'string', default: 'high' },
      endpoint: { type: 'string' },
      'scanner-instance': { type: 'string' },
      'scanner-zone': { type: 'string' },
      'device-wait': { type: 'string' },
      hashes: { type: 'string', multiple: true, default: [] },
      rules: { type: 'string', multiple: true, default: [] },
      sarif: { type: 'boolean', default: false },
      ignore: { type: 'string' },
      ...TIME_BUDGET_OPTIONS,
    },
  });
  const provider = positionals[0];
  if (positionals.length !== 1 || (provider !== 'aws' && provider !== 'aliyun')) throw new UsageError('fleet takes one provider: aws or aliyun');
  const budgets = timeBudgets(values);
  const outputDir = values['output-dir'];
  if (!outputDir) throw new UsageError('fleet needs --output-dir');
  const failOn = values['fail-on'];
  if (failOn !== 'none' && (!isSeverity(failOn) || failOn === 'info')) throw new UsageError(`--fail-on must be critical, high, medium, low or none`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('--concurrency must be a positive whole number');
  let shard, filters, deviceWaitMs;
  try {
    shard = values.shard ? parseShard(values.shard) : undefined;
    filters = values.filter.map(parseTagFilter);
    deviceWaitMs = values['device-wait'] === undefined ? undefined : parseDuration(values['device-wait']);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const defaultRegion = provider === 'aws' ? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION : process.env.ALIBABA_CLOUD_REGION_ID;
  const regions = values.region.length ? values.region : defaultRegion ? [defaultRegion] : [];
  if (regions.length === 0) throw new UsageError('fleet needs --region');
  const rules = await RuleSet.load(values.rules);
  const ignore = values.ignore === undefined ? undefined : await loadIgnoreFile(values.ignore);
  const hashes = await loadHashLists(values.hashes).catch((err: Error) => {
    throw new UsageError(err.message);
  });
  const instances = provider === 'aws' ? await listAwsInstances(regions, filters, values.endpoint, shutdownSignal) : await listAliyunInstances(regions, filters, values.endpoint, shutdownSignal);
  // On a signal, the exit waits for the scans in flight to be abandoned (no half-written report stays).
  let drained: (() => Promise<void>) | undefined;
  const summary = await runFleet({
    provider,
    instances,
    outputDir,
    shard,
    concurrency,
    resume: values.resume,
    failOn: failOn as FailOn,
    signal: shutdownSignal,
    onStarted: (settled) => (drained = track(async () => void (await settled))),
    scan: {
      checks: ALL_CHECKS,
      rules,
      hashes,
      ...budgets,
    },
    cloud: { endpoint: values.endpoint, keepSnapshots: values['keep-snapshots'], scannerInstance: values['scanner-instance'], scannerZone: values['scanner-zone'], deviceWaitMs, cacheBytes: cacheSizeOption() },
    progress: { write: io.stderr, tty: io.isTty },
    ignore,
  }).finally(() => drained?.());
  if (values.sarif) await writeFleetSarif(outputDir, summary, ruleLookup(rules), provider);
  io.stdout(`${summary.totals.scanned} instances scanned, ${summary.totals.failed} failed; summary in ${path.join(outputDir, 'summary.json')}\n`);
  return fleetExitCode(summary);
}
/** Combines the output directories of shards into one summary. */
export async function mergeCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'output-dir': { type: 'string' }, 'fail-on': { type: 'string', default: 'high' }, sarif: { type: 'boolean', default: false }, rules: { type: 'string', multiple: true, default: [] } } });
  if (positionals.length === 0 || !values['output-dir']) throw new UsageError('merge needs shard directories and --output-dir');
  const failOn = values['fail-on'];
  if (failOn !== 'none' && (!isSeverity(failOn) || failOn === 'info')) throw new UsageError(`--fail-on must be critical, high, medium, low or none`);
  const summary = await mergeSummaries(positionals, failOn as FailOn);
  await writeSummary(values['output-dir'], summary);
  if (values.sarif) await writeFleetSarif(values['output-dir'], summary, ruleLookup(await RuleSet.load(values.rules)));
  io.stdout(`${summary.totals.instances} instances from ${positionals.length} directories; summary in ${path.join(values['output-dir'], 'summary.json')}\n`);
  return fleetExitCode(summary);
}
/** 2 when an instance could not be scanned, else 3 when one was not fully read, else 1 when one has a verdict (a finding at --fail-on). */
function fleetExitCode(summary: FleetSummary): number {
  if (summary.totals.failed > 0) return EXIT_ERROR;
  if (summary.instances.some((r) => r.reportStatus === 'incomplete')) return EXIT_INCOMPLETE;
  return summary.instances.some((r) => r.verdict !== 'none') ? EXIT_FINDINGS : EXIT_CLEAN;
}
/** Deletes what killed runs left in the account: snapshots tagged minescan:created-by. */
export async function cleanupCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'older-than': { type: 'string', default: '6h' }, region: { type: 'string' }, endpoint: { type: 'string' } },
  });
  const provider = positionals[0];
  if (positionals.length !== 1 || (provider !== 'aws' && provider !== 'aliyun')) throw new UsageError('cleanup takes one provider: aws or aliyun');
  let olderThan: number;
  try {
    olderThan = parseDuration(values['older-than']);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (provider === 'aliyun') {
    const region = values.region ?? process.env.ALIBABA_CLOUD_REGION_ID;
    if (!region) throw new UsageError('cleanup aliyun needs --region or ALIBABA_CLOUD_REGION_ID');
    return reportCleanup(await cleanupAliyun(region, olderThan, values.endpoint), values['older-than'], io);
  }
  const ec2 = new EC2Client({ region: values.region, endpoint: values.endpoint, maxAttempts: 1 });
  try {
    return reportCleanup(await cleanupAwsSnapshots(ec2, olderThan), values['older-than'], io);
  } finally {
    ec2.destroy();
  }
}
function reportCleanup(result: { deleted: string[]; kept: string[]; failed: Array<{ id: string; reason: string }> }, olderThan: string, io: Io): number {
  for (const id of result.deleted) io.stdout(`deleted ${id}\n`);
  for (const id of result.kept) io.stdout(`kept ${id} (younger than ${olderThan})\n`);
  for (const f of result.failed) io.stderr(`minescan: could not delete ${f.id}: ${f.reason}\n`);
  return result.failed.length ? EXIT_ERROR : EXIT_CLEAN;
}
