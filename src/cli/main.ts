/**
 * The minescan command line. Exit codes are part of the contract pipelines rely on:
 * 0 nothing at or above --fail-on, 1 such findings, 2 a target could not be read or
 * the command was used wrongly, 3 the scan is incomplete (something it needed was not
 * read: no verdict, whatever was found). 130/143 after SIGINT/SIGTERM (shutdown.ts).
 */
import { parseArgs } from 'node:util';
import { promises as fsp } from 'node:fs';
import { ALL_CHECKS } from '../checks/index.js';
import { isSeverity, severityRank, type Severity } from '../model/finding.js';
import { ScanInterruptedError, scanTarget, unreadableReport } from '../engine/scan.js';
import { UnreadableTargetError } from '../../mountfs/open-target.js';
import { VERSION } from '../engine/version.js';
import { RuleSet } from '../rules/ruleset.js';
import { RuleError } from '../rules/types.js';
import { loadHashLists } from '../hashes/load-hash-list.js';
import { releaseAll } from '../../cloud/cleanup.js';
import { cloudTargetOpener } from '../../cloud/open-cloud-target.js';
import { EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_INCOMPLETE, UsageError, cacheSizeOption, spoolOptions, timeBudgets, TIME_BUDGET_OPTIONS, type Io } from './io.js';
import { onShutdown, shutdownExitCode, shutdownSignal } from './shutdown.js';
import { parseDuration } from '../../cloud/aws/cleanup.js';
import { cleanupCommand, fleetCommand, mergeCommand } from './cloud-commands.js';
import { diffCommand } from './diff-command.js';
import { renderJson } from '../report/json.js';
import { renderText } from '../report/text.js';
import { renderSarif, ruleLookup } from '../report/sarif.js';
import { loadIgnoreFile } from '../report/ignore-file.js';
import { applyIgnores, countedFindings, expiredIgnoreWarnings } from '../report/suppress.js';
import type { ScanReport } from '../model/report.js';
import { parseTimelineWindow } from '../engine/timeline.js';
import { removeAllSpools } from '../../mountfs/sources/temp-spool.js';

export { EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INCOMPLETE, type Io } from './io.js';
export { installShutdown } from './shutdown.js';

const USAGE = `Usage:
  minescan scan <target...> [--format json|text|sarif] [--output FILE] [--hashes FILE]...
                [--no-bundled-hashes]
                [--rules DIR]... [--fail-on critical|high|medium|low|none] [--quiet]
                [--ignore FILE] [--allow-backing] [--region R] [--endpoint URL] [--keep-snapshots]
                [--scanner-instance ID] [--scanner-zone ZONE] [--device-wait 2m]
                [--cache-size SIZE (default 256M for a snapshot, 64M otherwise)]
                [--timeline-window BEFORE:AFTER (default 1h:24h)]
                [--time-budget DURATION] [--open-time-budget DURATION]
                [--checks-time-budget DURATION]
                [--spool-dir DIR] [--spool-budget SIZE]
  minescan rules [--rules DIR]... [--format json|text]
  minescan fleet aws|aliyun --output-dir DIR [--region R]... [--filter tag:KEY=VALUE]...
                [--concurrency N] [--shard I/N] [--resume] [--keep-snapshots]
                [--fail-on SEV] [--endpoint URL] [--scanner-instance ID]
                [--scanner-zone ZONE] [--device-wait 2m] [--time-budget DURATION]
                [--open-time-budget DURATION] [--checks-time-budget DURATION] [--sarif] [--ignore FILE]
  minescan merge DIR... --output-dir DIR [--fail-on SEV] [--sarif]
  minescan cleanup aws|aliyun [--older-than 6h] [--region R] [--endpoint URL]
  minescan diff OLD NEW [--format json|text] [--fail-on SEV] [--ignore FILE] [--output FILE]
                (OLD, NEW: JSON reports, or fleet output directories)
  minescan --version

A target is a directory (an image already mounted read-only), a disk image file
(raw, qcow2, VMDK, VHD, VHDX; GPT, MBR, LVM or no partition table; or a tar/zip
archive of a root or of disk images, OVA included), or a block device. Nothing is
ever written to a target. --allow-backing follows qcow2 backing files and VHD
parents found beside the image. A compressed disk image, or a disk inside a zip, is
decompressed into a sparse spool file under --spool-dir (default the system temporary
directory); --spool-budget (e.g. 4G; default half the free space there, at most 16G)
bounds what the spools of one target may write.

aws:snapshot/snap-… reads an EBS snapshot in place through the EBS direct APIs;
aws:volume/vol-… and aws:instance/i-… snapshot the volume(s) first (tagged
minescan:scan-id) and delete the snapshots afterwards unless --keep-snapshots.
Credentials and region come from the AWS SDK's standard chain;
AWS_ENDPOINT_URL_EC2/AWS_ENDPOINT_URL_EBS, --region and --endpoint override.
--cache-size bounds the block cache (MINESCAN_CACHE_SIZE): a snapshot's blocks, an
image's metadata and container tables.
Throttled and failed cloud calls are retried for up to MINESCAN_CLOUD_RETRY_TIME
(default 120s) each.
aliyun:snapshot/s-…, aliyun:disk/d-… and aliyun:instance/i-… make a temporary disk
from a snapshot, attach it to the scanner instance (--scanner-instance and
--scanner-zone, default the ECS instance minescan runs on), wait --device-wait for
its device, read it read-only and remove it all afterwards
(ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, ALIBABA_CLOUD_REGION_ID or --region).

--time-budget 30m (s, m, h) bounds the whole scan of a target; --open-time-budget
and --checks-time-budget bound opening it and running the checks. When one runs
out, the report of what was done is written, marked incomplete.

--ignore FILE: a YAML list of accepted findings (rule, path glob, optional target
or instance, reason, optional expires: YYYY-MM-DD); they stay in the report, marked
suppressed, and fail nothing. An expired entry is reported and suppresses nothing.

Exit codes: 0 no finding at or above --fail-on (default high), 1 such findings,
2 a target could not be read, or bad usage, 3 incomplete: something the scan
needed was not read (it takes precedence over 1), 130/143 stopped by SIGINT/SIGTERM
(what minescan created is removed first, and no report is written).
`;


const processIo: Io = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  isTty: Boolean(process.stdout.isTTY),
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  // What this run creates (cloud resources, spools) is released on SIGINT/SIGTERM (bin/minescan.js installs the handlers).
  const unregister = onShutdown(releaseAll);
  const unregisterSpools = onShutdown(removeAllSpools);
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case 'scan':
        return await scanCommand(rest, io);
      case 'rules':
        return await rulesCommand(rest, io);
      case 'cleanup':
        return await cleanupCommand(rest, io);
      case 'fleet':
        return await fleetCommand(rest, io);
      case 'merge':
        return await mergeCommand(rest, io);
      case 'diff':
        return await diffCommand(rest, io);
      case '--version':
      case 'version':
        io.stdout(`minescan ${VERSION}\n`);
        return EXIT_CLEAN;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        io.stdout(USAGE);
        return command === undefined ? EXIT_ERROR : EXIT_CLEAN;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof ScanInterruptedError) return shutdownExitCode() ?? EXIT_ERROR;
    if (err instanceof UsageError || err instanceof RuleError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      io.stderr(`minescan: ${(err as Error).message}\n\n${USAGE}`);
      return EXIT_ERROR;
    }
    io.stderr(`minescan: ${(err as Error).message ?? String(err)}\n`);
    return EXIT_ERROR;
  } finally {
    unregister();
    unregisterSpools();
  }
}

async function scanCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      output: { type: 'string', short: 'o' },
      hashes: { type: 'string', multiple: true, default: [] },
      'no-bundled-hashes': { type: 'boolean', default: false },
      rules: { type: 'string', multiple: true, default: [] },
      'fail-on': { type: 'string', default: 'high' },
      quiet: { type: 'boolean', short: 'q', default: false },
      'allow-backing': { type: 'boolean', default: false },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      'keep-snapshots': { type: 'boolean', default: false },
      'scanner-instance': { type: 'string' },
      'cache-size': { type: 'string' },
      'scanner-zone': { type: 'string' },
      'device-wait': { type: 'string' },
      'timeline-window': { type: 'string' },
      ...TIME_BUDGET_OPTIONS,
      'spool-dir': { type: 'string' },
      'spool-budget': { type: 'string' },
      ignore: { type: 'string' },
    },
  });
  if (positionals.length === 0) throw new UsageError('scan needs at least one target');
  const format = values.format ?? (io.isTty && !values.output ? 'text' : 'json');
  if (format !== 'json' && format !== 'text' && format !== 'sarif') throw new UsageError(`--format must be json, text or sarif, not "${format}"`);
  const failOn = values['fail-on'];
  if (failOn !== 'none' && !isSeverity(failOn)) throw new UsageError(`--fail-on must be critical, high, medium, low or none, not "${failOn}"`);
  if (failOn === 'info') throw new UsageError('--fail-on info would fail every scan: use low');

  let timelineWindow, deviceWaitMs;
  try {
    timelineWindow = values['timeline-window'] === undefined ? undefined : parseTimelineWindow(values['timeline-window']);
    deviceWaitMs = values['device-wait'] === undefined ? undefined : parseDuration(values['device-wait']);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const budgets = timeBudgets(values);
  const spool = await spoolOptions(values);
  const cacheBytes = cacheSizeOption(values['cache-size']);

  const rules = await RuleSet.load(values.rules);
  const ignore = values.ignore === undefined ? undefined : await loadIgnoreFile(values.ignore);
  let hashes;
  try {
    hashes = await loadHashLists(values.hashes, { bundled: !values['no-bundled-hashes'] });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const reports: ScanReport[] = [];
  let unreadable = false;
  for (const target of positionals) {
    if (!values.quiet) io.stderr(`minescan: scanning ${target}\n`);
    try {
      const cloud = {
        region: values.region,
        endpoint: values.endpoint,
        keepSnapshots: values['keep-snapshots'],
        scannerInstance: values['scanner-instance'],
        scannerZone: values['scanner-zone'],
        deviceWaitMs,
        cacheBytes,
        signal: shutdownSignal,
      };
      const options = { checks: ALL_CHECKS, rules, hashes, allowBacking: values['allow-backing'], opener: cloudTargetOpener(cloud), timelineWindow, ...budgets, spool, cacheBytes, signal: shutdownSignal };
      let report = await scanTarget(target, options);
      if (ignore) report = applyIgnores(report, ignore);
      if (!values.quiet) for (const line of expiredIgnoreWarnings(report)) io.stderr(`minescan: ${line}\n`);
      reports.push(report);
      if (report.status === 'incomplete' && !values.quiet) io.stderr(`minescan: ${target}: INCOMPLETE, ${report.errors.length + report.errorsOmitted} thing(s) the scan needed could not be read (the report's errors)\n`);
    } catch (err) {
      if (!(err instanceof UnreadableTargetError)) throw err;
      unreadable = true;
      io.stderr(`minescan: ${err.message}\n`);
      const report = unreadableReport(target, err);
      reports.push(ignore ? applyIgnores(report, ignore) : report);
    }
  }

  // A scan that ended after a signal may have read disks being taken away: no report.
  if (shutdownSignal.aborted) throw new Error('interrupted: no report written');
  const rendered =
    format === 'json' ? renderJson(reports)
    : format === 'sarif' ? renderSarif(reports.map((report) => ({ report })), ruleLookup(rules))
    : renderText(reports, { color: io.isTty && !values.output });
  if (values.output) {
    // Whole or not at all: a signal while writing leaves no half report.
    const temp = `${values.output}.${process.pid}.partial`;
    await fsp.writeFile(temp, rendered);
    await fsp.rename(temp, values.output);
  }
  else if (!values.quiet) io.stdout(rendered);

  if (unreadable) return EXIT_ERROR;
  if (reports.some((r) => r.status === 'incomplete')) return EXIT_INCOMPLETE;
  if (failOn === 'none') return EXIT_CLEAN;
  const threshold = severityRank(failOn as Severity);
  // A finding an --ignore entry accepted stays in the report but fails nothing.
  const failing = reports.some((r) => countedFindings(r.findings).some((f) => severityRank(f.severity) >= threshold));
  return failing ? EXIT_FINDINGS : EXIT_CLEAN;
}

async function rulesCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      rules: { type: 'string', multiple: true, default: [] },
      format: { type: 'string', default: 'text' },
    },
  });
  const rules = await RuleSet.load(values.rules);
  if (values.format === 'json') {
    const list = rules.all().map((r) => ({
      id: r.id,
      category: r.category,
      severity: r.severity,
      family: r.family,
      matcher: r.match.kind,
      origin: r.origin,
    }));
    io.stdout(JSON.stringify({ families: rules.allFamilies(), rules: list }, null, 2) + '\n');
    return EXIT_CLEAN;
  }
  for (const f of rules.allFamilies()) io.stdout(`family ${f.id}: ${f.name}\n`);
  for (const r of rules.all()) {
    io.stdout(`${r.id.padEnd(44)} ${r.severity.padEnd(8)} ${r.match.kind.padEnd(7)} ${r.family ?? '-'}\n`);
  }
  io.stdout(`${rules.all().length} rules, ${rules.allFamilies().length} families\n`);
  return EXIT_CLEAN;
}
