/**
 * minescan's machine-readable outputs of real scans: the demo image and every case of
 * the detection corpus. Each JSON report, and the fleet summary made of them, must
 * validate against the published JSON Schema (schema/), which refuses an unknown or a
 * missing field. Their SARIF (one log per scan, an incomplete scan's, and a fleet's of
 * all of them) must pass Microsoft's SARIF Multitool with no error and the SARIF 2.1.0
 * JSON schema, and say what the JSON says: the JSON and the SARIF rendered from one
 * scan hold the same findings, in the same order, with the same counts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import type { ScanReport } from '../../src/model/report.js';
import { renderJson } from '../../src/report/json.js';
import { emptyCounts, rowFromReport, summarize } from '../../src/fleet/summary.js';
import { mkdir, writeFile } from 'node:fs/promises';
import type * as Sarif from 'sarif';
import { corpusAndDemoReports, corpusCase, scanReport } from '../helpers/corpus-reports.js';
import { REPO, makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { multitoolValidate, sarifSchemaValidator, type MultitoolFinding } from '../helpers/sarif-validate.js';
import { renderSarif, ruleLookup, type RuleLookup } from '../../src/report/sarif.js';
import { writeFleetSarif } from '../../src/report/fleet-sarif.js';
import { FINGERPRINT_NAME } from '../../src/report/fingerprint.js';
import { afterAll } from 'vitest';
import { SEVERITIES } from '../../src/model/finding.js';
import { parseIgnoreFile } from '../../src/report/ignore-file.js';
import { applyIgnores } from '../../src/report/suppress.js';

let reports: Map<string, ScanReport>;
let validateReport: ValidateFunction;
let validateSummary: ValidateFunction;

async function compile(file: string): Promise<ValidateFunction> {
  return new Ajv({ allErrors: true, strict: true }).compile(JSON.parse(await readFile(path.join(REPO, file), 'utf8')));
}

/** The report as a reader of the JSON output gets it. */
const asWritten = (report: ScanReport | ScanReport[]): unknown => JSON.parse(renderJson(Array.isArray(report) ? report : [report]));

beforeAll(async () => {
  validateReport = await compile('schema/report.schema.json');
  validateSummary = await compile('schema/fleet-summary.schema.json');
  reports = await corpusAndDemoReports();
}, 900_000);

describe('the JSON report schema', () => {
  it('scanned the demo image and every corpus case, findings included', () => {
    expect(reports.size).toBeGreaterThan(20);
    expect(reports.get('demo')!.findings.length).toBeGreaterThan(10);
  });

  it('accepts the report of the demo image and of every corpus case', () => {
    const invalid = [...reports].map(([name, r]) => ({ name, ok: validateReport(asWritten(r)), errors: validateReport.errors })).filter((v) => !v.ok);
    expect(invalid).toEqual([]);
  });

  it('accepts the array that several targets give', () => {
    expect(validateReport(asWritten([...reports.values()].slice(0, 3)))).toBe(true);
  });

  it('refuses an unknown field and a missing one, in a finding and at the top', () => {
    const demo = asWritten(reports.get('demo')!) as Record<string, any>;
    const withExtra = structuredClone(demo);
    withExtra.findings[0].confidence = 'high';
    expect(validateReport(withExtra)).toBe(false);
    const withoutRule = structuredClone(demo);
    delete withoutRule.findings[0].rule;
    expect(validateReport(withoutRule)).toBe(false);
    const withoutStatus = structuredClone(demo);
    delete withoutStatus.status;
    expect(validateReport(withoutStatus)).toBe(false);
    const badSeverity = structuredClone(demo);
    badSeverity.summary.severe = 1;
    expect(validateReport(badSeverity)).toBe(false);
  });

  it('accepts the fleet summary of the corpus reports (a failed instance included), and refuses an unknown field', () => {
    const rows = [...reports].map(([name, r]) => rowFromReport(`i-${name}`, 'eu-west-1', r, `eu-west-1/i-${name}.json`));
    rows.push({ instance: 'i-failed', region: 'eu-west-1', status: 'failed', volumes: 0, verdict: 'none', bySeverity: emptyCounts(), families: [], findings: 0, errors: 0, reason: 'AccessDenied' });
    const summary = JSON.parse(JSON.stringify(summarize(rows)));
    expect(validateSummary(summary), JSON.stringify(validateSummary.errors)).toBe(true);
    summary.instances[0].owner = 'x';
    expect(validateSummary(summary)).toBe(false);
  });
});

describe('SARIF 2.1.0', () => {
  let dir: string;
  let rules: RuleLookup;
  let incomplete: ScanReport;
  const logs = new Map<string, Sarif.Log>();
  let judged: MultitoolFinding[];

  beforeAll(async () => {
    dir = await makeScratchDir('minescan-sarif-');
    rules = ruleLookup(await builtinRules());
    // A checks budget of nothing stops the scan at its first read of the checks: a real incomplete report.
    incomplete = await scanReport(corpusCase('user-unit-miner'), undefined, { phaseBudgetsMs: { checks: 0 } });
    const all: Array<[string, ScanReport]> = [...reports, ['incomplete', incomplete]];
    for (const [name, report] of all) {
      const text = renderSarif([{ report }], rules);
      logs.set(name, JSON.parse(text));
      await writeFile(path.join(dir, `${name}.sarif`), text);
    }
    // A fleet's output directory: one report per instance, and one that could not be scanned.
    const fleet = path.join(dir, 'fleet');
    await mkdir(path.join(fleet, 'eu-west-1'), { recursive: true });
    const rows = [];
    for (const [name, report] of reports) {
      await writeFile(path.join(fleet, 'eu-west-1', `i-${name}.json`), renderJson([report]));
      rows.push(rowFromReport(`i-${name}`, 'eu-west-1', report, `eu-west-1/i-${name}.json`));
    }
    rows.push({ instance: 'i-failed', region: 'eu-west-1', status: 'failed' as const, volumes: 0, verdict: 'none' as const, bySeverity: emptyCounts(), families: [], findings: 0, errors: 0, reason: 'AccessDenied' });
    const sarifFile = await writeFleetSarif(fleet, summarize(rows), rules, 'aws');
    const fleetText = await readFile(sarifFile, 'utf8');
    logs.set('fleet', JSON.parse(fleetText));
    await writeFile(path.join(dir, 'fleet.sarif'), fleetText);
    judged = await multitoolValidate(dir, path.join(dir, 'multitool.log'));
  }, 900_000);

  afterAll(() => removeScratchDir(dir));

  it('passes the SARIF Multitool with no error, and only warnings that are justified', () => {
    expect(judged.filter((j) => j.level === 'error')).toEqual([]);
    // SARIF2005 asks for tool.driver.informationUri: minescan publishes no home page to point at.
    // SARIF2017 asks for a region on every location: a finding about a whole file (a miner
    // binary, a file that must not exist) has no line, and a made-up region would point at one.
    const justified = new Set(['SARIF2005', 'SARIF2017']);
    expect(judged.filter((j) => j.level === 'warning' && !justified.has(j.rule))).toEqual([]);
    // The Multitool did judge them: its notes (message strings, rule names) are always there.
    expect(judged.length).toBeGreaterThan(reports.size);
  });

  it('validates against the SARIF 2.1.0 JSON schema', async () => {
    const validate = await sarifSchemaValidator();
    const invalid = [...logs].filter(([, log]) => !validate(log)).map(([name]) => ({ name, errors: validate.errors }));
    expect(invalid).toEqual([]);
  });

  it('has one run per target, and for a fleet one per instance, the failed one included', () => {
    for (const name of reports.keys()) expect(logs.get(name)!.runs).toHaveLength(1);
    const fleet = logs.get('fleet')!;
    expect(fleet.runs).toHaveLength(reports.size + 1);
    expect(fleet.runs.map((r) => r.automationDetails?.id)).toContain('eu-west-1/i-demo/');
    const failed = fleet.runs.find((r) => r.automationDetails?.id === 'eu-west-1/i-failed/')!;
    expect(failed.invocations![0]!.executionSuccessful).toBe(false);
    expect(failed.invocations![0]!.toolExecutionNotifications![0]!.message.text).toContain('AccessDenied');
  });

  it('gives each result its rule from the packs, a level and security-severity from its severity, its file inside the root and its line', () => {
    const demo = reports.get('demo')!;
    const run = logs.get('demo')!.runs[0]!;
    const levels = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };
    expect(run.results).toHaveLength(demo.findings.length);
    run.results!.forEach((r, i) => {
      const f = demo.findings[i]!;
      const rule = run.tool.driver.rules![r.ruleIndex!]!;
      expect(rule.id).toBe(f.rule);
      expect(rule.help?.text).toBeTruthy();
      expect(rule.shortDescription?.text).toBeTruthy();
      expect(r.level).toBe(levels[f.severity]);
      expect(Number(r.properties!['security-severity'])).toBeGreaterThanOrEqual(0);
      const location = r.locations![0]!.physicalLocation!;
      expect(location.artifactLocation!.uriBaseId).toBe('SCANROOT');
      expect(`/${decodeURIComponent(location.artifactLocation!.uri!)}`).toBe(f.path);
      expect(location.region?.startLine).toBe(f.line);
      expect(r.partialFingerprints![FINGERPRINT_NAME]).toMatch(/^[0-9a-f]{64}$/);
    });
    expect(run.invocations![0]!.executionSuccessful).toBe(true);
  });

  it('keeps fingerprints across two scans of the same disk', async () => {
    const again = JSON.parse(renderSarif([{ report: await scanReport(corpusCase('user-unit-miner')) }], rules)) as Sarif.Log;
    const prints = (log: Sarif.Log) => log.runs[0]!.results!.map((r) => r.partialFingerprints![FINGERPRINT_NAME]).sort();
    expect(prints(again)).toEqual(prints(logs.get('user-unit-miner')!));
    expect(prints(again).length).toBeGreaterThan(0);
  });

  it('reports an incomplete scan as not successful, each error a notification', () => {
    expect(incomplete.status).toBe('incomplete');
    const invocation = logs.get('incomplete')!.runs[0]!.invocations![0]!;
    expect(invocation.executionSuccessful).toBe(false);
    const errors = invocation.toolExecutionNotifications!.filter((n) => n.level === 'error');
    expect(errors).toHaveLength(incomplete.errors.length + (incomplete.errorsOmitted > 0 ? 1 : 0));
    expect(errors[0]!.descriptor!.id).toBe(incomplete.errors[0]!.kind);
  });
});

describe('JSON and SARIF of one scan', () => {
  /** What both outputs say of one finding. */
  const jsonView = (r: ScanReport) => r.findings.map((f) => ({ rule: f.rule, path: f.path, line: f.line, severity: f.severity, message: f.message, suppressed: f.suppressed?.reason }));
  const sarifView = (run: Sarif.Run) =>
    run.results!.map((x) => ({
      rule: x.ruleId,
      path: `/${decodeURIComponent(x.locations![0]!.physicalLocation!.artifactLocation!.uri!)}`,
      line: x.locations![0]!.physicalLocation!.region?.startLine,
      severity: x.properties!.severity,
      message: x.message.text,
      suppressed: x.suppressions?.[0]?.justification,
    }));
  const counts = (run: Sarif.Run) => Object.fromEntries(SEVERITIES.map((s) => [s, run.results!.filter((x) => x.properties!.severity === s).length]));

  it('agree on every finding and every count, for the demo image and every corpus case', async () => {
    const rules = ruleLookup(await builtinRules());
    // The demo with one of its rules accepted by an --ignore entry, so suppressions are compared too.
    const accepted = parseIgnoreFile('ignore:\n  - rule: "ssh.*"\n    path: /root/**\n    reason: the analyst\'s own key\n', 'accepted.yaml');
    const all: Array<[string, ScanReport]> = [...reports, ['demo with --ignore', applyIgnores(reports.get('demo')!, accepted)]];
    expect(all.at(-1)![1].suppressions!.suppressed).toBeGreaterThan(0);
    for (const [name, report] of all) {
      const json = JSON.parse(renderJson([report])) as ScanReport;
      const run = (JSON.parse(renderSarif([{ report }], rules)) as Sarif.Log).runs[0]!;
      expect(sarifView(run), name).toEqual(jsonView(json));
      expect(counts(run), name).toEqual(json.summary);
      expect(run.properties!.summary, name).toEqual(json.summary);
      expect(run.results!.filter((x) => x.suppressions?.length).length, name).toBe(json.suppressions?.suppressed ?? 0);
      expect(run.invocations![0]!.executionSuccessful, name).toBe(json.status === 'complete');
    }
  });
});
