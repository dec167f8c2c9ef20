/**
 * Precision and recall on the detection corpus: variants of one clean Debian root
 * (images/build-corpus.sh, cases in images/corpus/cases.json, built before the run by
 * the image project's global setup), each an ordinary busy
 * server or one intrusion that varies names and places. Every check runs on every
 * variant, as `minescan scan DIR` would.
 *
 * - A clean case must give nothing of medium severity or more (a false alarm).
 * - An infected case must give a medium-or-higher finding on each path it expects.
 * - A medium-or-higher finding in an infected case on a path the case did not plant
 *   is a false alarm too: it would be one on a clean server.
 *
 * The metrics are written to corpus-metrics.json, which .ci/run prints.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { IMAGES, REPO } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const CORPUS = fixture('detectionCorpus');

interface CorpusCase {
  name: string;
  kind: 'clean' | 'infected';
  description: string;
  expect?: string[];
  planted?: string[];
}

interface CaseResult {
  name: string;
  kind: CorpusCase['kind'];
  /** Expected paths with a medium+ finding. */
  found: string[];
  /** Expected paths without one. */
  missed: string[];
  /** Medium+ findings on paths the case did not plant. */
  falseAlarms: Pick<Finding, 'rule' | 'severity' | 'path' | 'line' | 'message'>[];
  /** Medium+ findings on the case's own paths. */
  trueAlarms: number;
}

const loud = (f: Finding) => severityRank(f.severity) >= severityRank('medium');

const cases: CorpusCase[] = JSON.parse(await readFile(path.join(IMAGES, 'corpus/cases.json'), 'utf8')).cases;
const results = new Map<string, CaseResult>();

describe('detection corpus', () => {
  beforeAll(async () => {
    const rules = await builtinRules();
    for (const c of cases) {
      const report = await scanTarget(path.join(CORPUS, c.name), { checks: ALL_CHECKS, rules, hashes: EMPTY_HASH_LIST });
      results.set(c.name, score(c, report.findings));
    }
    await writeFile(path.join(REPO, 'corpus-metrics.json'), `${JSON.stringify(metrics([...results.values()]), null, 2)}\n`);
  }, 900_000);

  it.each(cases.filter((c) => c.kind === 'clean').map((c) => [c.name]))('clean case %s gives nothing of medium severity or more', (name) => {
    expect(results.get(name)!.falseAlarms).toEqual([]);
  });

  it.each(cases.filter((c) => c.kind === 'infected').map((c) => [c.name]))('infected case %s is found where it was planted, and nowhere else', (name) => {
    const r = results.get(name)!;
    expect(r.missed).toEqual([]);
    expect(r.falseAlarms).toEqual([]);
  });

  it('reaches full precision and recall', () => {
    const m = metrics([...results.values()]);
    expect(m.precision).toBe(1);
    expect(m.recall).toBe(1);
  });
});

function score(c: CorpusCase, findings: Finding[]): CaseResult {
  const expected = new Set(c.expect ?? []);
  const own = new Set([...expected, ...(c.planted ?? [])]);
  const alarms = findings.filter(loud);
  const hitPaths = new Set(alarms.map((f) => f.path));
  const falseAlarms = alarms
    .filter((f) => !own.has(f.path))
    .map((f) => ({ rule: f.rule, severity: f.severity, path: f.path, ...(f.line !== undefined ? { line: f.line } : {}), message: f.message }));
  return {
    name: c.name,
    kind: c.kind,
    found: [...expected].filter((p) => hitPaths.has(p)),
    missed: [...expected].filter((p) => !hitPaths.has(p)),
    falseAlarms,
    trueAlarms: alarms.length - falseAlarms.length,
  };
}

/**
 * Precision over alarms (medium+ findings): the share that point at what an intrusion
 * planted. Recall over expected paths: the share of planted artifacts found. Per case
 * too: an infected case counts as detected when any expected path is found.
 */
function metrics(all: CaseResult[]) {
  const trueAlarms = all.reduce((n, r) => n + r.trueAlarms, 0);
  const falseAlarms = all.reduce((n, r) => n + r.falseAlarms.length, 0);
  const found = all.reduce((n, r) => n + r.found.length, 0);
  const missed = all.reduce((n, r) => n + r.missed.length, 0);
  const infected = all.filter((r) => r.kind === 'infected');
  const clean = all.filter((r) => r.kind === 'clean');
  return {
    precision: trueAlarms + falseAlarms === 0 ? 1 : trueAlarms / (trueAlarms + falseAlarms),
    recall: found + missed === 0 ? 1 : found / (found + missed),
    alarms: { true: trueAlarms, false: falseAlarms },
    expectedPaths: { found, missed },
    cases: {
      infected: infected.length,
      infectedDetected: infected.filter((r) => r.found.length > 0).length,
      clean: clean.length,
      cleanWithFalseAlarms: clean.filter((r) => r.falseAlarms.length > 0).length,
    },
    perCase: all,
  };
}
