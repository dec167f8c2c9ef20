/**
 * `minescan scan` of a Windows disk image end to end: a GPT disk (sgdisk, type 0700)
 * whose NTFS volume (mkntfs) holds a Windows root written through the ntfs-3g FUSE mount:
 * the real SYSTEM and NTUSER.DAT sample hives, a SOFTWARE hive merged by hivexregedit,
 * stock Windows 10 task XMLs, paging and hibernation files holding a miner's memory, and
 * the junctions Windows creates (Documents and Settings, Application Data pointing at its
 * own parent); the infected disk adds Run keys (SOFTWARE and NTUSER.DAT) and a Defender
 * exclusion (hivexregedit --merge into copies of the hives), a task starting XMRig with a pool,
 * ProgramData\x\xmrig.exe with its config.json and a Startup-folder batch file. The built
 * CLI scans the raw disk and a qcow2 of it: the root is judged Windows, each planted item
 * is found at its severity, the stock parts raise nothing medium or above, the scan is
 * complete and the image bytes are unchanged. The same infected tree with its Windows
 * folders spelled in other letter cases (`WINDOWS/system32/Config`) is found the same way,
 * through the volume's case-insensitive lookups. The clean disk exits 0, complete. A
 * WOF-compressed program (compact OS, `compact /exe`) where miners are looked for is not
 * read: the scan ends incomplete naming it, never clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeScratchDir, removeScratchDir, REPO } from '../helpers/images.js';
import { plantFiles } from '../helpers/planted-tree.js';
import { peFile, utf16, WINDOWS_SAMPLES, windowsSamplesPresent } from '../helpers/windows-samples.js';
import { XMR_WALLET, XMRIG_STRINGS } from '../miners/elf-fixtures.js';
import { mergeReg, sampleFile } from './registry-samples.js';
import { reparseBuffer, setXattr } from '../mountfs/ntfs-volume.js';
import { RUN, STOCK_SOFTWARE, dw, regText, sz } from './reg-text.js';

const run = promisify(execFile);
const SAMPLES = windowsSamplesPresent();
const START_SECTOR = 2048;
const VOLUME_MIB = 64;

/** Stock tasks of the Windows 10 tree (APTSimulator's GameOver left out: it is malicious). */
const STOCK_TASKS = [
  'Microsoft/Windows/Defrag/ScheduledDefrag',
  'Microsoft/Windows/Registry/RegIdleBackup',
  'Microsoft/Windows/Windows Defender/Windows Defender Scheduled Scan',
  'Microsoft/Windows/Windows Defender/Windows Defender Cleanup',
  'GoogleUpdateTaskMachineCore{CF8953F0-7413-4BC6-94A3-B0282ACC3AE4}',
  'MicrosoftEdgeUpdateTaskMachineUA',
];

/** How a tree spells the folders the checks ask for. */
interface Spelling {
  windows: string;
  system32: string;
  config: string;
  tasks: string;
  users: string;
  programData: string;
  appData: string;
}
const AS_WINDOWS_WRITES: Spelling = { windows: 'Windows', system32: 'System32', config: 'config', tasks: 'Tasks', users: 'Users', programData: 'ProgramData', appData: 'AppData' };
const OTHER_CASE: Spelling = { windows: 'WINDOWS', system32: 'system32', config: 'Config', tasks: 'TASKS', users: 'users', programData: 'programdata', appData: 'APPDATA' };

const CONFIG = JSON.stringify({ autosave: true, cpu: { enabled: true }, 'donate-level': 1, pools: [{ url: 'pool.supportxmr.com:443', user: XMR_WALLET, tls: true }] }, null, 2);
const TASK = utf16(`<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><URI>\\Microsoft\\Windows\\Maintenance\\SvcUpdate</URI></RegistrationInfo>
  <Triggers><BootTrigger><Enabled>true</Enabled></BootTrigger></Triggers>
  <Principals><Principal id="Author"><UserId>S-1-5-18</UserId></Principal></Principals>
  <Settings><Enabled>true</Enabled></Settings>
  <Actions Context="Author"><Exec><Command>C:\\ProgramData\\x\\xmrig.exe</Command><Arguments>-o pool.supportxmr.com:443 -u ${XMR_WALLET} --donate-level 1</Arguments></Exec></Actions>
</Task>`);
const STARTUP_BAT = `@echo off\r\nstart "" /b C:\\ProgramData\\x\\xmrig.exe -o gulf.moneroocean.stream:10128 -u ${XMR_WALLET}\r\n`;

interface Finding {
  rule: string;
  severity: string;
  path: string;
  evidence: string;
}
interface Report {
  status: string;
  errors: unknown[];
  findings: Finding[];
  roots: { platform: string; evidence?: string }[];
  source: { volumes: { filesystem: string; scanned: boolean }[] };
  stats: { bytesRead: number; bytesHashed: number };
}

const serious = (f: Finding) => ['critical', 'high', 'medium'].includes(f.severity);
const shown = (f: Finding) => `${f.severity} ${f.rule} ${f.path} ${f.evidence.slice(0, 140)}`;

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function scan(image: string): Promise<{ code: number; report: Report }> {
  const result = await run('node', [path.join(REPO, 'bin/minescan.js'), 'scan', image, '--format', 'json'], { maxBuffer: 64 << 20 }).catch(
    (err: { code: number; stdout: string }) => err,
  );
  return { code: 'code' in result ? result.code : 0, report: JSON.parse(result.stdout) as Report };
}

describe.skipIf(!SAMPLES)('minescan scan of a Windows disk image (GPT, NTFS)', () => {
  let scratch: string;
  let hives: { system: string; software: string; ntuser: string; infectedSoftware: string; infectedNtuser: string };
  const disks: Record<string, string> = {};

  /** The Windows root as a host tree, to be copied into the NTFS volume. */
  async function writeTree(dir: string, s: Spelling, infected: boolean): Promise<void> {
    const sys32 = `${s.windows}/${s.system32}`;
    const profile = `${s.users}/Administrator`;
    await mkdir(path.join(dir, sys32, s.config), { recursive: true });
    await copyFile(hives.system, path.join(dir, sys32, s.config, 'SYSTEM'));
    await copyFile(infected ? hives.infectedSoftware : hives.software, path.join(dir, sys32, s.config, 'SOFTWARE'));
    await mkdir(path.join(dir, profile), { recursive: true });
    await copyFile(infected ? hives.infectedNtuser : hives.ntuser, path.join(dir, profile, 'NTUSER.DAT'));
    for (const task of STOCK_TASKS) {
      await mkdir(path.dirname(path.join(dir, sys32, s.tasks, task)), { recursive: true });
      await copyFile(path.join(WINDOWS_SAMPLES, 'tasks/win10-aptsimulator', task), path.join(dir, sys32, s.tasks, task));
    }
    const startup = `${profile}/${s.appData}/Roaming/Microsoft/Windows/Start Menu/Programs/Startup`;
    await plantFiles(dir, {
      [`${sys32}/drivers/etc/hosts`]: '# Copyright (c) 1993-2009 Microsoft Corp.\r\n127.0.0.1 localhost\r\n',
      [`${s.programData}/Microsoft/Windows Defender/Scans/readme.txt`]: 'scan history\r\n',
      '$Recycle.Bin/S-1-5-21-3623811015-3361044348-30300820-500/desktop.ini': '[.ShellClassInfo]\r\nCLSID={645FF040-5081-101B-9F08-00AA002F954E}\r\n',
      'System Volume Information/IndexerVolumeGuid': utf16('{8C7A6B1E-2F0D-4C1A-9E3B-5D4F6A7B8C9D}'),
      [`${startup}/desktop.ini`]: '[.ShellClassInfo]\r\nLocalizedResourceName=@%SystemRoot%\\system32\\shell32.dll,-21787\r\n',
      ...(infected
        ? {
            [`${sys32}/${s.tasks}/Microsoft/Windows/Maintenance/SvcUpdate`]: TASK,
            [`${s.programData}/x/xmrig.exe`]: peFile(XMRIG_STRINGS),
            [`${s.programData}/x/config.json`]: CONFIG,
            [`${startup}/update.bat`]: STARTUP_BAT,
          }
        : {}),
    });
  }

  /**
   * What every Windows volume holds beside its files, written on the mounted volume: the
   * paging, hibernation and swap files (sparse here, gigabytes on a real disk), and the
   * compatibility junctions and symlink Windows creates, two of which point at their own
   * parent folder.
   */
  async function addWindowsVolumeParts(mnt: string, s: Spelling): Promise<void> {
    // Memory a miner ran in: its program and configuration paged out, which is no file on the disk to report.
    const memory = Buffer.concat([peFile(XMRIG_STRINGS), Buffer.from(CONFIG), Buffer.alloc(4096 - 1024)]);
    for (const [file, mib] of [['pagefile.sys', 8], ['hiberfil.sys', 4], ['swapfile.sys', 1]] as const) {
      await writeFile(path.join(mnt, file), Buffer.concat(Array.from({ length: Math.floor((mib << 20) / memory.length) }, () => memory)));
    }
    const profile = 'C:\\Users\\Administrator';
    const links: [string, 'junction' | 'symlink', string][] = [
      ['Documents and Settings', 'junction', 'C:\\Users'],
      [`${s.users}/All Users`, 'symlink', 'C:\\ProgramData'],
      [`${s.users}/Administrator/Application Data`, 'junction', `${profile}\\AppData\\Roaming`],
      [`${s.users}/Administrator/${s.appData}/Local/Application Data`, 'junction', `${profile}\\AppData\\Local`],
      [`${s.programData}/Application Data`, 'junction', 'C:\\ProgramData'],
    ];
    for (const [at, kind, target] of links) {
      const place = path.join(mnt, at);
      await mkdir(place, { recursive: true });
      await setXattr(place, 'system.ntfs_reparse_data', reparseBuffer(kind, `\\??\\${target}`, target));
    }
  }

  /** A GPT disk whose one Microsoft basic data partition holds an NTFS volume with `tree` written through ntfs-3g. */
  async function buildDisk(name: string, tree: string, s: Spelling, extra?: (mnt: string) => Promise<void>): Promise<string> {
    const volume = path.join(scratch, `${name}.ntfs`);
    const mnt = path.join(scratch, `${name}.mnt`);
    await mkdir(mnt);
    await run('truncate', ['-s', `${VOLUME_MIB}M`, volume]);
    await run('mkntfs', ['-F', '-Q', '-q', '-p', String(START_SECTOR), '-L', 'Windows', volume]);
    await run('ntfs-3g', ['-o', 'streams_interface=xattr', volume, mnt]);
    try {
      await cp(tree, mnt, { recursive: true });
      await addWindowsVolumeParts(mnt, s);
      await extra?.(mnt);
    } finally {
      await run('umount', [mnt]);
    }
    const disk = path.join(scratch, `${name}.img`);
    const sectors = (VOLUME_MIB << 20) / 512;
    await run('truncate', ['-s', `${VOLUME_MIB + 4}M`, disk]);
    await run('sgdisk', ['-n', `1:${START_SECTOR}:${START_SECTOR + sectors - 1}`, '-t', '1:0700', '-c', '1:Basic data partition', disk]);
    const { stdout } = await run('sgdisk', ['-p', disk]);
    expect(stdout).toMatch(new RegExp(`\\s1\\s+${START_SECTOR}\\s+${START_SECTOR + sectors - 1}\\s.*0700`));
    await run('dd', [`if=${volume}`, `of=${disk}`, 'bs=1M', `seek=${(START_SECTOR * 512) >> 20}`, 'conv=notrunc,sparse', 'status=none']);
    return disk;
  }

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-windisk-');
    const software = path.join(scratch, 'SOFTWARE.stock');
    await copyFile(path.join(WINDOWS_SAMPLES, 'hives/hivex/minimal'), software);
    await chmod(software, 0o644);
    await mergeReg(software, regText(STOCK_SOFTWARE));
    const infectedSoftware = path.join(scratch, 'SOFTWARE.infected');
    await copyFile(software, infectedSoftware);
    await mergeReg(
      infectedSoftware,
      regText({
        [RUN]: { Updater: sz(`C:\\ProgramData\\x\\xmrig.exe -o gulf.moneroocean.stream:10128 -u ${XMR_WALLET} --donate-level=1`) },
        'Microsoft\\Windows Defender\\Exclusions\\Paths': { 'C:\\ProgramData\\x': dw(0) },
      }),
    );
    const ntuser = await sampleFile('regipy/NTUSER.DAT', scratch);
    const infectedNtuser = path.join(scratch, 'NTUSER.infected');
    await copyFile(ntuser, infectedNtuser);
    await chmod(infectedNtuser, 0o644);
    await mergeReg(infectedNtuser, regText({ [`Software\\${RUN}`]: { OneDriveSync: sz(`C:\\Users\\Administrator\\AppData\\Roaming\\rig.exe -o pool.minexmr.com:4444 -u ${XMR_WALLET}`) } }));
    hives = { system: await sampleFile('regipy/SYSTEM', scratch), ntuser, software, infectedSoftware, infectedNtuser };
    for (const [name, spelling, infected] of [
      ['clean', AS_WINDOWS_WRITES, false],
      ['infected', AS_WINDOWS_WRITES, true],
      ['other-case', OTHER_CASE, true],
    ] as const) {
      const tree = path.join(scratch, `${name}.tree`);
      await writeTree(tree, spelling, infected);
      disks[name] = await buildDisk(name, tree, spelling);
    }
    // A program compressed as `compact /c /exe:xpress4k` leaves it: a WOF reparse point
    // (WOF_EXTERNAL_INFO, provider FILE; FILE_PROVIDER_EXTERNAL_INFO_V1, XPRESS4K) and the
    // compressed bytes in the WofCompressedData stream.
    disks.wof = await buildDisk('wof', path.join(scratch, 'clean.tree'), AS_WINDOWS_WRITES, async (mnt) => {
      const program = path.join(mnt, 'ProgramData/Intel/igfxsvc.exe');
      await mkdir(path.dirname(program), { recursive: true });
      await writeFile(program, Buffer.alloc(200_000));
      await setXattr(program, 'user.WofCompressedData', peFile(XMRIG_STRINGS));
      const info = Buffer.alloc(16);
      info.writeUInt32LE(1, 0);
      info.writeUInt32LE(2, 4);
      info.writeUInt32LE(1, 8);
      info.writeUInt32LE(0, 12);
      const header = Buffer.alloc(8);
      header.writeUInt32LE(0x80000017, 0);
      header.writeUInt16LE(info.length, 4);
      await setXattr(program, 'system.ntfs_reparse_data', Buffer.concat([header, info]));
    });
    disks.qcow2 = path.join(scratch, 'infected.qcow2');
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disks.infected!, disks.qcow2]);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  /** Each planted item, found at its severity, its path as the volume spells it. */
  function expectPlanted(report: Report, s: Spelling): void {
    const sys32 = `/${s.windows}/${s.system32}`;
    const software = `${sys32}/${s.config}/SOFTWARE`;
    const task = `${sys32}/${s.tasks}/Microsoft/Windows/Maintenance/SvcUpdate`;
    const miner = `/${s.programData}/x/xmrig.exe`;
    const config = `/${s.programData}/x/config.json`;
    const bat = `/${s.users}/Administrator/${s.appData}/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/update.bat`;
    const ntuser = `/${s.users}/Administrator/NTUSER.DAT`;
    const all = report.findings.map(shown).join('\n');
    const found = (severity: RegExp, rule: string, where: string, evidence = '') => {
      const hit = report.findings.find((f) => f.rule === rule && f.path === where && f.evidence.includes(evidence));
      expect(hit, `${rule} on ${where} (${evidence}) among\n${all}`).toBeDefined();
      expect(hit!.severity, shown(hit!)).toMatch(severity);
    };
    found(/^(high|critical)$/, 'command.miner', software, `${RUN}\\Updater`);
    found(/^high$/, 'windows-registry.miner-program', software, `${RUN}\\Updater`);
    found(/^high$/, 'windows-defender.exclusion-writable-place', software, 'Exclusions\\Paths\\C:\\ProgramData\\x');
    found(/^(high|critical)$/, 'command.miner', task);
    found(/^medium$/, 'windows-task.system-user-writable', task);
    // The task's line is linked to the miner it starts, and shown as text (the XML is UTF-16LE).
    found(/^critical$/, 'correlation.persistence-starts-malicious', task, '<Command>C:\\ProgramData\\x\\xmrig.exe</Command>');
    found(/^(high|critical)$/, 'miner.xmrig-binary', miner);
    expect(report.findings.filter((f) => f.path === config && serious(f)).map(shown), all).not.toEqual([]);
    found(/^(high|critical)$/, 'command.miner', bat);
    // Once, though the profile is reached through the Documents and Settings junction too.
    found(/^(high|critical)$/, 'command.miner', ntuser, `${RUN}\\OneDriveSync`);
    expect(report.findings.filter((f) => f.rule === 'command.miner' && f.evidence.includes('OneDriveSync')).map(shown)).toHaveLength(1);
    const planted = new Set([software, task, miner, config, bat, ntuser]);
    expect(report.findings.filter((f) => serious(f) && !planted.has(f.path)).map(shown)).toEqual([]);
  }

  function expectComplete(report: Report, s: Spelling): void {
    expect(report.errors).toEqual([]);
    expect(report.status).toBe('complete');
    expect(report.source.volumes.filter((v) => v.filesystem === 'ntfs')).toMatchObject([{ scanned: true }]);
    expect(report.roots).toMatchObject([{ platform: 'windows', evidence: `/${s.windows}/${s.system32}/${s.config}/SYSTEM` }]);
    // Hives are read by ranges and the paging files not at all: well under the 13 MiB of
    // paging files, and under the SYSTEM hive's 11 MiB.
    expect(report.stats.bytesRead).toBeLessThan(8 << 20);
    expect(report.stats.bytesHashed).toBe(0);
  }

  it.each(['infected', 'qcow2'] as const)('finds every planted item on the %s disk, the stock parts silent, and leaves the image unchanged', async (name) => {
    const image = disks[name]!;
    const before = await sha256(image);
    const { code, report } = await scan(image);
    expectComplete(report, AS_WINDOWS_WRITES);
    expectPlanted(report, AS_WINDOWS_WRITES);
    expect(code).toBe(1);
    expect(await sha256(image)).toBe(before);
  });

  it('finds the same items when the Windows folders are spelled in other letter cases (WINDOWS/system32/Config)', async () => {
    const { code, report } = await scan(disks['other-case']!);
    expectComplete(report, OTHER_CASE);
    expectPlanted(report, OTHER_CASE);
    expect(code).toBe(1);
  });

  it('ends incomplete (exit 3) on a WOF-compressed program where miners are looked for, naming it, rather than calling the disk clean', async () => {
    const { code, report } = await scan(disks.wof!);
    expect(report.status).toBe('incomplete');
    expect(report.errors).toMatchObject([{ kind: 'unsupported', path: '/ProgramData/Intel/igfxsvc.exe', message: expect.stringMatching(/Windows Overlay Filter/) }]);
    expect(code).toBe(3);
  });

  it('exits 0 on the clean disk, complete, nothing medium or above', async () => {
    const image = disks.clean!;
    const before = await sha256(image);
    const { code, report } = await scan(image);
    expectComplete(report, AS_WINDOWS_WRITES);
    expect(report.findings.filter(serious).map(shown)).toEqual([]);
    expect(code).toBe(0);
    expect(await sha256(image)).toBe(before);
  });
});
