/**
 * The SARIF of a fleet audit (`minescan fleet … --sarif`, `minescan merge … --sarif`):
 * one run per instance, named "REGION/INSTANCE" (automationDetails.id), read from the
 * instance reports the summary lists; an instance that could not be scanned is a run
 * that did not succeed, with the reason.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { FleetSummary } from '../fleet/summary.js';
import type { ScanReport } from '../model/report.js';
import { VERSION } from '../engine/version.js';
import { renderSarif, type FailedSarifRun, type RuleLookup, type SarifRun } from './sarif.js';

export const FLEET_SARIF = 'summary.sarif';

export async function writeFleetSarif(dir: string, summary: FleetSummary, rules: RuleLookup, provider?: string): Promise<string> {
  const runs: Array<SarifRun | FailedSarifRun> = [];
  for (const row of summary.instances) {
    const id = `${row.region}/${row.instance}`;
    if (row.status === 'scanned' && row.report) {
      const report = JSON.parse(await fsp.readFile(path.resolve(dir, row.report), 'utf8')) as ScanReport;
      runs.push({ report, id });
    } else {
      runs.push({ failed: { id, target: provider ? `${provider}:instance/${row.instance}` : row.instance, reason: row.reason ?? 'not scanned', version: VERSION } });
    }
  }
  const file = path.join(dir, FLEET_SARIF);
  const temp = `${file}.${process.pid}.partial`;
  await fsp.writeFile(temp, renderSarif(runs, rules));
  await fsp.rename(temp, file);
  return file;
}
