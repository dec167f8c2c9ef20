/**
 * Pins what a scan finds on the detection corpus (images/build-corpus.sh, the cases of
 * images/corpus/cases.json, built by the image project's global setup), so that a change
 * to how the checks are written, and not to what they look for, can be shown to change
 * no finding. The corpus test measures precision and recall over medium+ findings; this
 * one holds every finding of every severity, its text, evidence, family, remediation,
 * indicators and links, plus the errors, notes, status and blocklist of each case.
 *
 * Left out, because they vary between two builds of the same corpus and say nothing
 * about what was found: file times (each run builds its corpus afresh) and so the
 * timeline, the target's path (a fresh directory each run), and the stats (durations,
 * and bytes read, which a change that reads less is meant to lower). Findings are
 * sorted, so a directory's listing order does not count; the blocklist names findings
 * by rule, path and line instead of by their index.
 *
 * The expected JSON is test/scan/findings-pin.expected.json. A change meant to change
 * findings rewrites it with MINESCAN_PIN_WRITE=1 and the diff goes in the same commit.
 */
import { describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import type { ReportFinding, ScanReport } from '../../src/model/report.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { IMAGES, REPO } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const CORPUS = fixture('detectionCorpus');
const EXPECTED = path.join(REPO, 'test/scan/findings-pin.expected.json');
const cases: { name: string }[] = JSON.parse(await readFile(path.join(IMAGES, 'corpus/cases.json'), 'utf8')).cases;

/** A finding as the pin holds it: everything but its times, with its lists in a fixed order. */
function pinned(f: ReportFinding): Record<string, unknown> {
  const { times: _times, related, ...rest } = f;
  return {
    ...rest,
    ...(related
      ? {
          related: {
            ...(related.startedBy ? { startedBy: [...related.startedBy].sort() } : {}),
            ...(related.starts ? { starts: [...related.starts].sort() } : {}),
          },
        }
      : {}),
  };
}

const keyOf = (f: ReportFinding) => `${f.path}\0${String(f.line ?? 0).padStart(8, '0')}\0${f.rule}\0${f.evidence}\0${f.message}`;
const nameOf = (f: ReportFinding) => `${f.rule} ${f.path}${f.line !== undefined ? `:${f.line}` : ''}`;

function pinReport(report: ScanReport): Record<string, unknown> {
  const byIndex = (indices: number[]) => indices.map((i) => nameOf(report.findings[i]!)).sort();
  const { blocklist } = report;
  return {
    status: report.status,
    summary: report.summary,
    findings: [...report.findings].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0)).map(pinned),
    errors: report.errors,
    errorsOmitted: report.errorsOmitted,
    notes: report.notes,
    blocklist: {
      ...blocklist,
      pools: blocklist.pools.map((p) => ({ ...p, findings: byIndex(p.findings) })),
      wallets: blocklist.wallets.map((w) => ({ ...w, findings: byIndex(w.findings) })),
    },
  };
}

describe('findings pinned on the detection corpus', () => {
  it('every case gives exactly the findings, errors and blocklist recorded in findings-pin.expected.json', async () => {
    const rules = await builtinRules();
    const actual: Record<string, unknown> = {};
    for (const c of cases) {
      const report = await scanTarget(path.join(CORPUS, c.name), { checks: ALL_CHECKS, rules, hashes: EMPTY_HASH_LIST });
      actual[c.name] = pinReport(report);
    }
    const text = `${JSON.stringify(actual, null, 2)}\n`;
    if (process.env.MINESCAN_PIN_WRITE === '1') await writeFile(EXPECTED, text);
    const expected = await readFile(EXPECTED, 'utf8').catch(() => {
      throw new Error(`${EXPECTED} is missing: write it from a trusted tree with MINESCAN_PIN_WRITE=1`);
    });
    // Compared as text, so a difference shows as a line diff of the JSON, naming the case and the finding.
    expect(text).toBe(expected);
  }, 900_000);
});
