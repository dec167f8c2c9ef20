import type { ScanReport } from '../model/report.js';

/** One object for one target, an array for several, as the report contract says. */
export function renderJson(reports: ScanReport[]): string {
  return JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + '\n';
}
