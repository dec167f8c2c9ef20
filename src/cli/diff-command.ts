/**
 * `minescan diff OLD NEW`: what changed between two audits, each a JSON report (one
 * target or several) or a fleet's output directory (its instance reports, by
 * REGION/INSTANCE). Exit 1 when something new (or no longer suppressed) is at or above
 * --fail-on, else 3 when a scan of the new audit is incomplete, else 0; 2 when an
 * input is not a minescan report, naming the file.
 */
import { parseArgs } from 'node:util';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isSeverity, type Severity } from '../model/finding.js';
import type { ScanReport } from '../model/report.js';
import { diffAudits, failingChanges, renderDiffJson, renderDiffText, type AuditSide } from '../report/diff.js';
import { loadIgnoreFile } from '../report/ignore-file.js';
import { applyIgnores } from '../report/suppress.js';
import { EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, UsageError, type Io } from './io.js';

export class AuditInputError extends Error {}

export async function diffCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { format: { type: 'string' }, 'fail-on': { type: 'string', default: 'high' }, ignore: { type: 'string' }, output: { type: 'string', short: 'o' } },
  });
  if (positionals.length !== 2) throw new UsageError('diff takes two audits: OLD NEW (JSON reports or fleet output directories)');
  const format = values.format ?? (io.isTty && !values.output ? 'text' : 'json');
  if (format !== 'json' && format !== 'text') throw new UsageError(`--format must be json or text, not "${format}"`);
  const failOn = values['fail-on'];
  if (failOn !== 'none' && (!isSeverity(failOn) || failOn === 'info')) throw new UsageError('--fail-on must be critical, high, medium, low or none');
  const ignore = values.ignore === undefined ? undefined : await loadIgnoreFile(values.ignore);

  const [oldPath, newPath] = positionals as [string, string];
  const before = await readAudit(oldPath);
  const after = await readAudit(newPath);
  // Two single reports are one target scanned twice, whatever each scan called it (two snapshots of one volume).
  const oldSide = before.single && after.single ? rekey(before.side, [...after.side.keys()][0]!) : before.side;
  const suppress = (side: AuditSide) => (ignore ? new Map([...side].map(([k, r]) => [k, applyIgnores(r, ignore, { instance: instanceOf(k) })])) : side);
  const diff = diffAudits(oldPath, suppress(oldSide), newPath, suppress(after.side));

  const rendered = format === 'json' ? renderDiffJson(diff) : renderDiffText(diff);
  if (values.output) await fsp.writeFile(values.output, rendered);
  else io.stdout(rendered);
  if (failOn !== 'none' && failingChanges(diff, failOn as Severity).length > 0) return EXIT_FINDINGS;
  return diff.targets.some((t) => t.incomplete) ? EXIT_INCOMPLETE : EXIT_CLEAN;
}

/** A fleet's key is REGION/INSTANCE. */
const instanceOf = (key: string): string | undefined => (/^[^/]+\/(i-[^/]+)$/.exec(key)?.[1]);

function rekey(side: AuditSide, key: string): AuditSide {
  return new Map([[key, [...side.values()][0]!]]);
}

interface Audit {
  side: AuditSide;
  /** One report from one file: paired with the other side's one report whatever its target. */
  single: boolean;
}

async function readAudit(file: string): Promise<Audit> {
  const st = await fsp.stat(file).catch((err: Error) => {
    throw new AuditInputError(`${file}: ${err.message}`);
  });
  if (!st.isDirectory()) {
    const reports = await readReports(file);
    return { side: new Map(reports.map((r) => [r.target, r])), single: reports.length === 1 };
  }
  // A fleet's output directory: REGION/INSTANCE.json, the summaries beside them left out.
  const side: AuditSide = new Map();
  for (const region of (await fsp.readdir(file, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    for (const name of (await fsp.readdir(path.join(file, region.name))).filter((n) => n.endsWith('.json')).sort()) {
      const reports = await readReports(path.join(file, region.name, name));
      side.set(`${region.name}/${name.slice(0, -'.json'.length)}`, reports[0]!);
    }
  }
  return { side, single: false };
}

async function readReports(file: string): Promise<ScanReport[]> {
  let value: unknown;
  try {
    value = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    throw new AuditInputError(`${file}: not a minescan JSON report: ${(err as Error).message}`);
  }
  const reports = Array.isArray(value) ? value : [value];
  reports.forEach((r, i) => {
    const where = Array.isArray(value) ? `${file} [${i}]` : file;
    if (typeof r !== 'object' || r === null || typeof r.target !== 'string' || !Array.isArray(r.findings)) throw new AuditInputError(`${where}: not a minescan JSON report (no target or findings)`);
    (r.findings as unknown[]).forEach((f, j) => {
      const g = f as Record<string, unknown> | null;
      if (!g || typeof g.rule !== 'string' || typeof g.path !== 'string' || typeof g.evidence !== 'string' || typeof g.severity !== 'string' || !isSeverity(g.severity)) {
        throw new AuditInputError(`${where}: findings[${j}] is not a finding (rule, path, evidence and severity)`);
      }
    });
  });
  return reports as ScanReport[];
}
