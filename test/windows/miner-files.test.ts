/**
 * Miner files on a Windows root: a PE program with XMRig's strings under any name in
 * ProgramData, a renamed XMRig fork in a profile's AppData, xmrig.exe by its name,
 * XMRig's config.json, the WinRing0 driver in Users\Public, and a miner in a folder at
 * the drive's root, each found with Windows remediation; the same files under Program
 * Files and Windows (where installers put them), a text file starting with "MZ" and
 * ordinary programs stay silent. The PE test programs are constructed: a DOS header whose
 * e_lfanew leads to the PE signature, then the strings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { peFile, plantWindowsRoot } from '../helpers/windows-samples.js';
import { XMR_WALLET, XMRIG_LIKE_STRINGS, XMRIG_STRINGS } from '../miners/elf-fixtures.js';


const CONFIG = JSON.stringify({ autosave: true, cpu: { enabled: true, 'huge-pages': true }, 'donate-level': 1, pools: [{ url: 'pool.supportxmr.com:443', user: XMR_WALLET, tls: true }] }, null, 2);
const serious = (severity: string) => ['critical', 'high', 'medium'].includes(severity);

describe('Windows miner files', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-winminers-');
    await plantWindowsRoot(path.join(scratch, 'infected'), {
      'ProgramData/Intel/Drivers/igfxsvc.exe': peFile(XMRIG_STRINGS),
      'Users/alice/AppData/Roaming/Microsoft Edge Helper/msedge_helper.exe': peFile(XMRIG_LIKE_STRINGS),
      'Users/alice/Downloads/xmrig-6.21.0/xmrig.exe': peFile(['hello']),
      'Users/alice/Downloads/xmrig-6.21.0/config.json': CONFIG,
      'Users/Public/Libraries/WinRing0x64.sys': peFile(['WinRing0']),
      'Perf/svc/host.exe': peFile(XMRIG_STRINGS),
    });
    await plantWindowsRoot(path.join(scratch, 'clean'), {
      'Program Files/Vendor/Tools/WinRing0x64.sys': peFile(['WinRing0']),
      'Windows/System32/xmrig-test-fixture.exe': peFile(XMRIG_STRINGS),
      'ProgramData/Vendor/readme.txt': 'MZ is not a program\n'.repeat(10),
      'ProgramData/Vendor/app.exe': peFile(['This program cannot be run in DOS mode.', 'GetProcAddress', 'kernel32.dll']),
      'Users/bob/AppData/Local/Programs/app/config.json': JSON.stringify({ theme: 'dark', updates: { url: 'https://updates.example.com' } }),
    });
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds miner programs by their strings and names, configurations and the WinRing0 driver', async () => {
    const result = await scanDirectory(path.join(scratch, 'infected'), ALL_CHECKS);
    expect(result.errors).toEqual([]);
    const rules = (p: string) => result.findings.filter((f) => f.path === p).map((f) => f.rule).sort();
    expect(rules('/ProgramData/Intel/Drivers/igfxsvc.exe')).toEqual(['miner.xmrig-binary']);
    expect(rules('/Users/alice/AppData/Roaming/Microsoft Edge Helper/msedge_helper.exe')).toEqual(['miner.xmrig-like-binary']);
    expect(rules('/Users/alice/Downloads/xmrig-6.21.0/xmrig.exe')).toEqual(['windows-miner.named-miner']);
    expect(rules('/Users/alice/Downloads/xmrig-6.21.0/config.json').length).toBe(1);
    expect(rules('/Users/Public/Libraries/WinRing0x64.sys')).toEqual(['windows-miner.winring0-driver']);
    expect(rules('/Perf/svc/host.exe')).toEqual(['miner.xmrig-binary']);
    const binary = result.findings.find((f) => f.path === '/ProgramData/Intel/Drivers/igfxsvc.exe')!;
    expect(binary.remediation).toContain("Remove-Item -Force -LiteralPath 'C:\\ProgramData\\Intel\\Drivers\\igfxsvc.exe'");
    expect(binary.remediation).not.toContain('chattr');
    const config = result.findings.find((f) => f.path.endsWith('config.json'))!;
    expect(config.indicators?.pools).toEqual(expect.arrayContaining([expect.stringContaining('supportxmr')]));
  });

  it('stays silent on programs where installers put them and on ordinary files', async () => {
    const result = await scanDirectory(path.join(scratch, 'clean'), ALL_CHECKS);
    expect(result.errors).toEqual([]);
    expect(result.findings.filter((f) => serious(f.severity))).toEqual([]);
  });
});
