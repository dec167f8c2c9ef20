/**
 * What a fleet run left in its output directory, for comparing a stopped run with one
 * that ran to the end: every file, and reports with the fields that differ between
 * two scans of the same disk (times, durations) removed.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Every file under dir, relative, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  await walk(dir);
  return out.sort();
}

/** A report without what changes from one scan of the same disk to the next. */
export async function comparableReport(file: string): Promise<unknown> {
  const report = JSON.parse(await readFile(file, 'utf8'));
  delete report.startedAt;
  delete report.finishedAt;
  delete report.stats.durationMs;
  return report;
}

/** The reports a fleet run wrote (the summaries left out), by relative path, comparable. */
export async function reportsUnder(dir: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const file of await filesUnder(dir)) if (!/^summary\.(json|csv)$/.test(file)) out.set(file, await comparableReport(path.join(dir, file)));
  return out;
}
