/**
 * minescan's machine-readable outputs of real scans: the demo image and every case of
 * the detection corpus. Each JSON report, and the fleet summary made of them, must
 * validate against the published JSON Schema (schema/), which refuses an unknown or a
 * missing field.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import type { ScanReport } from '../../src/model/report.js';
import { renderJson } from '../../src/report/json.js';
import { emptyCounts, rowFromReport, summarize } from '../../src/fleet/summary.js';
import { corpusAndDemoReports } from '../helpers/corpus-reports.js';
import { REPO } from '../helpers/images.js';

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
