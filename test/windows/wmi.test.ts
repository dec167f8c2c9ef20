/**
 * WMI event subscriptions read out of real CIM repositories (APTSimulator's, Windows 10
 * and Server 2022): the ActiveScriptEventConsumers KillProcess (both) and
 * LaunchBeaconingBackdoor (Server 2022) are found and named with the filters bound to
 * them, Windows's own SCM Event Log consumer is not reported. A planted repository with
 * a CommandLineEventConsumer starting a miner, its record across the check's read
 * chunks, and a class definition of the same name, gives exactly the consumer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantWindowsRoot, WINDOWS_SAMPLES, windowsSamplesPresent } from '../helpers/windows-samples.js';

const SAMPLES = windowsSamplesPresent();
const REPOSITORY = 'Windows/System32/wbem/Repository';
const OBJECTS = `/${REPOSITORY}/OBJECTS.DATA`;

/** Heap strings as an instance record holds them: each behind a 0 flag byte, NUL-terminated. */
const heap = (...strings: string[]) => Buffer.concat(strings.map((s) => Buffer.from(`\0${s}\0`, 'latin1')));
const SID = Buffer.from([0x1c, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0, 5, 0x15, 0, 0, 0, 0x8a, 0x79, 0x3b, 0xc3]);

describe('WMI event subscriptions', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-wmi-');
    if (SAMPLES) {
      for (const tree of ['win10-aptsimulator', 'server2022-aptsimulator']) {
        const root = path.join(scratch, tree);
        await plantWindowsRoot(root);
        await mkdir(path.join(root, REPOSITORY), { recursive: true });
        await writeFile(path.join(root, OBJECTS), execFileSync('xz', ['-dc', path.join(WINDOWS_SAMPLES, 'wmi', tree, 'OBJECTS.DATA.xz')], { maxBuffer: 64 << 20 }));
      }
    }
    const record = Buffer.concat([
      heap('CommandLineEventConsumer'),
      SID,
      heap('C:\\Users\\Public\\Libraries\\svchost.exe -o pool.minexmr.com:4444 --donate-level 1', 'C:\\Users\\Public\\Libraries', 'SysUpdater'),
    ]);
    const definition = heap('CommandLineEventConsumer', 'CommandLineTemplate', 'string', 'Template', 'CreateNewConsole', 'boolean');
    const filter = heap('__EventFilter', 'root\\cimv2', 'Every60s', "SELECT * FROM __InstanceModificationEvent WITHIN 60 WHERE TargetInstance ISA 'Win32_PerfFormattedData_PerfOS_System'", 'WQL');
    const binding = heap('__FilterToConsumerBinding', 'CommandLineEventConsumer.Name="SysUpdater"', '__EventFilter.Name="Every60s"');
    const objects = Buffer.alloc(6 << 20);
    definition.copy(objects, 8192);
    filter.copy(objects, 3 * 8192);
    // Across the 4 MiB boundary at which the check reads its next chunk.
    record.copy(objects, (4 << 20) - 40);
    binding.copy(objects, (5 << 20) + 100);
    await plantWindowsRoot(path.join(scratch, 'planted'), { [OBJECTS]: objects });
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it.skipIf(!SAMPLES)('finds and names the script consumers of the Windows 10 repository', async () => {
    const result = await scanDirectory(path.join(scratch, 'win10-aptsimulator'), ALL_CHECKS);
    expect(result.errors).toEqual([]);
    const consumers = result.findings.filter((f) => f.rule === 'windows-wmi.script-consumer');
    expect(consumers.map((f) => f.evidence.split(':')[0])).toEqual(['ActiveScriptEventConsumer.Name="KillProcess" (VBScript)']);
    expect(consumers[0]!.message).toContain(`filter "ProcessStartTrigger" (SELECT * FROM Win32_ProcessStartTrace WHERE ProcessName = 'procexp64.exe')`);
    expect(consumers[0]!.remediation).toContain("ActiveScriptEventConsumer -Filter \"Name='KillProcess'\" | Remove-CimInstance");
    expect(result.findings.some((f) => f.evidence.includes('SCM Event Log'))).toBe(false);
  });

  it.skipIf(!SAMPLES)('finds and names both script consumers of the Server 2022 repository', async () => {
    const result = await scanDirectory(path.join(scratch, 'server2022-aptsimulator'), ALL_CHECKS);
    const consumers = result.findings.filter((f) => f.rule === 'windows-wmi.script-consumer');
    expect(consumers.map((f) => f.evidence.split(':')[0]).sort()).toEqual(['ActiveScriptEventConsumer.Name="KillProcess" (VBScript)', 'ActiveScriptEventConsumer.Name="LaunchBeaconingBackdoor" (VBScript)']);
    const beacon = consumers.find((f) => f.evidence.includes('LaunchBeaconingBackdoor'))!;
    expect(beacon.message).toContain(`filter "TimingIntervalTrigger" (SELECT * FROM __TimerEvent WHERE TimerID = 'Timer')`);
    expect(beacon.evidence).toContain('googleaccountsservices.com');
  });

  it('finds a planted command-line consumer and judges its command', async () => {
    const result = await scanDirectory(path.join(scratch, 'planted'), ALL_CHECKS);
    expect(result.errors).toEqual([]);
    const consumer = result.findings.filter((f) => f.rule === 'windows-wmi.command-consumer');
    expect(consumer).toHaveLength(1);
    expect(consumer[0]!.message).toContain('"SysUpdater"');
    expect(consumer[0]!.message).toContain('filter "Every60s" (SELECT * FROM __InstanceModificationEvent WITHIN 60');
    const rules = result.findings.filter((f) => f.path === OBJECTS).map((f) => f.rule);
    expect(rules).toEqual(expect.arrayContaining(['command.miner', 'windows-command.started-from-temp']));
    expect(consumer[0]!.remediation).toContain("Remove-Item -Force -LiteralPath 'C:\\Users\\Public\\Libraries\\svchost.exe'");
  });
});
