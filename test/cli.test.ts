/**
 * The command-line contract: exit codes, JSON shape, formats, output files, bad usage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cli } from './helpers/run-cli.js';
import { IMAGES, REPO, makeScratchDir, plantTree, removeScratchDir } from './helpers/images.js';

const DEMO = path.join(IMAGES, 'demo.img');


describe('minescan scan', () => {
  let scratch: string;
  let cleanTree: string;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    cleanTree = await plantTree(path.join(scratch, 'clean'), true);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('writes the JSON report contract and exits 1 on the infected demo image', async () => {
    const { code, stdout } = await cli(['scan', DEMO, '--format', 'json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(Object.keys(report).sort()).toEqual(
      ['schemaVersion', 'tool', 'target', 'startedAt', 'finishedAt', 'source', 'findings', 'roots', 'summary', 'timeline', 'blocklist', 'stats', 'status', 'errors', 'errorsOmitted', 'notes'].sort(),
    );
    expect(report).toMatchObject({ status: 'complete', errors: [], errorsOmitted: 0, notes: [] });
    expect(report.tool.name).toBe('minescan');
    expect(report.roots).toEqual([{ platform: 'linux', evidence: expect.any(String) }]);
    expect(report.source.volumes[0]).toMatchObject({ index: 1, scheme: 'gpt', type: expect.any(String), filesystem: 'ext4', scanned: true });
    for (const f of report.findings) {
      expect(f).toEqual(expect.objectContaining({ rule: expect.any(String), category: expect.any(String), severity: expect.stringMatching(/^(critical|high|medium|low|info)$/), path: expect.stringMatching(/^\//), message: expect.any(String), evidence: expect.any(String), remediation: expect.any(String) }));
    }
    const counted = Object.values(report.summary as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(counted).toBe(report.findings.length);
    expect(report.stats.bytesRead).toBeGreaterThan(0);
    expect(report.stats.bytesRead).toBeLessThan(8 << 20);
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
  });

  it('exits 0 on a clean tree at the default threshold, 1 when asked to fail on low', async () => {
    const clean = await cli(['scan', cleanTree, '--format', 'json']);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ status: 'complete', errors: [] });
    const low = await cli(['scan', cleanTree, '--format', 'json', '--fail-on', 'info']);
    expect(low.code).toBe(2);
  });

  it('writes text on a terminal and to --output in the chosen format', async () => {
    const text = await cli(['scan', DEMO, '--fail-on', 'none'], true);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/CRITICAL/);
    expect(text.stdout).toMatch(/remediation:/);
    const out = path.join(scratch, 'report.json');
    const quiet = await cli(['scan', DEMO, '--output', out, '--quiet']);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toBe('');
    expect(quiet.code).toBe(1);
    expect(JSON.parse(await readFile(out, 'utf8')).target).toBe(DEMO);
  });

  it('writes an array for several targets', async () => {
    const { stdout } = await cli(['scan', DEMO, cleanTree, '--format', 'json']);
    const reports = JSON.parse(stdout);
    expect(reports.map((r: { target: string }) => r.target)).toEqual([DEMO, cleanTree]);
  });

  it('exits 2 with the reason when a target cannot be read', async () => {
    const zeros = path.join(scratch, 'zeros.img');
    await writeFile(zeros, Buffer.alloc(1 << 20));
    const { code, stderr, stdout } = await cli(['scan', zeros, '--format', 'json']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/no partition table or filesystem found at offset 0/);
    expect(JSON.parse(stdout).errors[0].message).toMatch(/no partition table or filesystem/);
    expect((await cli(['scan', path.join(scratch, 'nope.img')])).code).toBe(2);
  });

  it('exits 2 on bad usage, naming the problem', async () => {
    expect(await cli(['scan'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/at least one target/) });
    expect(await cli(['scan', DEMO, '--format', 'xml'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--format/) });
    expect(await cli(['scan', DEMO, '--bogus'])).toMatchObject({ code: 2 });
    expect(await cli(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command/) });
    expect(await cli(['scan', DEMO, '--spool-budget', 'lots'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--spool-budget must be a size/) });
    expect(await cli(['scan', DEMO, '--spool-dir', path.join(scratch, 'no-such-dir')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--spool-dir .* is not a directory/) });
    const badList = path.join(scratch, 'bad.hdb');
    await writeFile(badList, 'not-a-hash:12:x\n');
    expect(await cli(['scan', DEMO, '--hashes', badList])).toMatchObject({ code: 2, stderr: expect.stringMatching(/bad\.hdb.*1/) });
  });

  it('lists the loaded rules and families', async () => {
    const { code, stdout } = await cli(['rules', '--format', 'json']);
    expect(code).toBe(0);
    const listed = JSON.parse(stdout);
    expect(listed.families.map((f: { id: string }) => f.id)).toContain('kinsing');
    expect(listed.rules.length).toBeGreaterThan(10);
  });

  it('runs as the installed command', async () => {
    const run = promisify(execFile);
    const result = await run('node', [path.join(REPO, 'bin/minescan.js'), 'scan', DEMO, '--format', 'json', '--fail-on', 'none']);
    expect(JSON.parse(result.stdout).summary.critical).toBeGreaterThan(0);
  });
});
