/**
 * The reports of the detection corpus (the shared fixture, images/corpus/cases.json) and
 * of the demo image, scanned once per test file, as `minescan scan` writes them: for
 * the tests of the report formats, which must hold for every finding minescan makes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget, type ScanOptions } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import type { HashLookup } from '../../src/hashes/hash-list.js';
import type { ScanReport } from '../../src/model/report.js';
import { builtinRules } from './scan-dir.js';
import { IMAGES } from './images.js';
import { fixture } from './fixtures.js';

export const DEMO_IMAGE = path.join(IMAGES, 'demo.img');

export async function corpusCases(): Promise<string[]> {
  return (JSON.parse(await readFile(path.join(IMAGES, 'corpus/cases.json'), 'utf8')).cases as { name: string }[]).map((c) => c.name);
}

/** The directory of one case of the detection corpus. */
export function corpusCase(name: string): string {
  return path.join(fixture('detectionCorpus'), name);
}

export async function scanReport(target: string, hashes: HashLookup = EMPTY_HASH_LIST, options: Partial<ScanOptions> = {}): Promise<ScanReport> {
  return scanTarget(target, { checks: ALL_CHECKS, rules: await builtinRules(), hashes, ...options });
}

/** Every case's report, by case name, and the demo image's as "demo". */
export async function corpusAndDemoReports(): Promise<Map<string, ScanReport>> {
  const out = new Map<string, ScanReport>([['demo', await scanReport(DEMO_IMAGE, await loadHashLists([], { bundled: true }))]]);
  for (const name of await corpusCases()) out.set(name, await scanReport(corpusCase(name)));
  return out;
}
