/**
 * Runs checks over one filesystem, phase by phase (src/model/check.ts: find, follow,
 * combine; within a phase the order they are listed in does not matter), and collects
 * what they report. Only the checks made for the root's platform run (Linux or Windows,
 * judged by src/facts/windows/platform.ts), and the result says which it was. A check
 * that throws is recorded in `errors` (naming the check) and the others still run: a
 * damaged region of an image must not hide the rest of it. After the checks, the
 * findings another finding on the same path outranks are dropped (precedence.ts), the
 * correlation pass links persistence lines to the files they start (correlate.ts) and
 * every finding gets the times of its file (file-times.ts). When the scan is stopped (a
 * time budget, a cancelled run), no further check starts and what fails after the stop
 * is not recorded: it is the stop's doing, which the caller reports once.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import type { RuleSet } from '../rules/ruleset.js';
import { rulesForCheck } from '../rules/check-rules.js';
import type { HashLookup } from '../hashes/hash-list.js';
import { CHECK_PHASES, phaseOf, platformsOf, watchedPlaces, type Check, type CheckContext, type CheckPhase, type StartedFile } from '../model/check.js';
import { ALL_CHECKS } from '../checks/index.js';
import { applyPrecedence } from './precedence.js';
import { Facts } from '../facts/facts.js';
import type { Finding } from '../model/finding.js';
import { correlate } from './correlate.js';
import { fillFindingTimes } from './file-times.js';
import { fillPackagePlaceholders } from './package-placeholders.js';
import type { ExaminedFile } from './timeline.js';
import { ErrorLog, errorMessage, typedFields, type ErrorEntry } from './scan-errors.js';
import type { ScanStop } from './scan-stop.js';
import { detectPlatform, type RootPlatform } from '../facts/windows/platform.js';

export { errorMessage } from './scan-errors.js';

/** An error a check recorded: kind, structure and offset when the error was typed. */
export type ScanError = ErrorEntry;

export interface CheckRunResult {
  findings: Finding[];
  errors: ScanError[];
  /** Errors beyond the bound on `errors`, counted. */
  errorsOmitted: number;
  filesExamined: number;
  /** Every examined file and the checks that examined it, for the timeline. */
  examined: ExaminedFile[];
  bytesHashed: number;
  /** What the root was judged as, and so which checks ran; absent when the scan stopped before any check. */
  platform?: RootPlatform;
}

export interface CheckRunOptions {
  rules: RuleSet;
  hashes: HashLookup;
  /** Asked between checks; set when the scan has a budget or can be cancelled. */
  stop?: ScanStop;
}

export async function runChecks(vfs: Vfs, checks: readonly Check[], options: CheckRunOptions): Promise<CheckRunResult> {
  const findings: Finding[] = [];
  const log = new ErrorLog();
  const stop = options.stop;
  // Judged when the first check is about to run, after the stop is asked: a scan stopped
  // before any check names that check, not the judgement, and then has no platform.
  let platform: RootPlatform | undefined;
  // Path → ids of the checks that examined it, in order: the timeline names the place.
  const examined = new Map<string, string[]>();
  let current = '';
  let phase: CheckPhase = 'find';
  const started: StartedFile[] = [];
  const startedKeys = new Set<string>();
  let bytesHashed = 0;
  const places = watchedPlaces([...ALL_CHECKS, ...checks]);
  const error = (path: string | undefined, err: unknown) => {
    if (stop?.stopped) return;
    log.add({ ...(path !== undefined ? { path } : {}), ...typedFields(err), message: errorMessage(err) });
  };
  const ctx: CheckContext = {
    vfs,
    rules: options.rules,
    hashes: options.hashes,
    facts: new Facts(vfs, error),
    report: (f) => findings.push(f),
    error,
    examined: (path) => {
      const places = examined.get(path);
      if (!places) examined.set(path, [current]);
      else if (!places.includes(current)) places.push(current);
    },
    started: (file) => {
      if (phase === 'combine') throw new Error(`check ${current} records a started file in the combine phase, after every reader of them ran`);
      const key = `${file.path}\0${file.startedBy}`;
      if (startedKeys.has(key)) return;
      startedKeys.add(key);
      started.push(file);
    },
    startedFiles: () => {
      if (phase === 'find') throw new Error(`check ${current} reads the started files in the find phase, before every check recorded them`);
      return [...started];
    },
    hashed: (n) => void (bytesHashed += n),
    // Every check's places, whichever checks this run includes: a lock keeps a place's
    // persistence in place whether or not the check that reads it runs.
    watchedPlaces: () => places,
  };
  const failed = (step: string, label: string, err: unknown) => {
    if (stop?.stopped) return;
    const typed = typedFields(err);
    log.add({ ...typed, kind: typed.kind ?? 'check-failed', check: step, message: `${label} stopped: ${errorMessage(err)}` });
  };
  run: for (phase of CHECK_PHASES) {
    for (const check of checks) {
      if (phaseOf(check) !== phase || (platform && !platformsOf(check).includes(platform.platform))) continue;
      // Entered first, so a budget spent between checks names the check that did not run.
      stop?.enterCheck(check.id);
      if (stop?.shouldStop()) break run;
      platform ??= await detectPlatform(vfs);
      if (!platformsOf(check).includes(platform.platform)) continue;
      current = check.id;
      try {
        await check.run({ ...ctx, rules: rulesForCheck(check, options.rules) });
      } catch (err) {
        failed(check.id, `check ${check.id}`, err);
      }
    }
  }
  const result = applyPrecedence(dedupe(findings), options.rules);
  // After a stop every read fails at once: findings keep what the checks saw, unlinked and without times.
  if (!stop?.stopped) {
    await fillPackagePlaceholders(result, ctx.facts);
    stop?.at('correlation');
    try {
      result.push(...(await correlate(vfs, options.rules, result, started, ctx.facts)));
    } catch (err) {
      failed('correlation', 'correlation', err);
    }
    await fillFindingTimes(vfs, result);
  }
  return {
    findings: result,
    errors: log.entries(),
    errorsOmitted: log.omitted,
    filesExamined: examined.size,
    examined: examinedFiles(examined, started),
    bytesHashed,
    ...(platform ? { platform } : {}),
  };
}

function examinedFiles(examined: Map<string, string[]>, started: StartedFile[]): ExaminedFile[] {
  const startedPaths = new Set(started.map((s) => s.path));
  return [...examined].map(([path, places]) => ({ path, places, ...(startedPaths.has(path) ? { started: true } : {}) }));
}

/**
 * Two checks may see the same thing (a path rule and a content rule on one line): report
 * it once. Which of the copies stands does not depend on the order checks ran in: the
 * least by category, message and remediation.
 */
function dedupe(findings: Finding[]): Finding[] {
  const kept = new Map<string, number>();
  const out: Finding[] = [];
  for (const f of findings) {
    const key = [f.rule, f.path, f.line ?? '', f.evidence].join('\0');
    const at = kept.get(key);
    if (at === undefined) {
      kept.set(key, out.length);
      out.push(f);
    } else if (copyOrder(f) < copyOrder(out[at]!)) {
      out[at] = f;
    }
  }
  return out;
}

function copyOrder(f: Finding): string {
  return [f.category, f.message, f.remediation].join('\0');
}
