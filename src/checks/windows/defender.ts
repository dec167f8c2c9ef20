/**
 * Microsoft Defender tampering, as miners do it before they start: folders, programs
 * and extensions excluded from scanning (SOFTWARE\Microsoft\Windows Defender\Exclusions
 * for what Add-MpPreference sets, SOFTWARE\Policies\Microsoft\Windows Defender\
 * Exclusions for group policy; each exclusion is a value named by what it excludes),
 * protection turned off by policy or preference (DisableAntiSpyware,
 * DisableRealtimeMonitoring and the other Real-Time Protection switches, cloud
 * reporting off), and Defender's services disabled (Start = 4). Which of these are
 * suspicious, and how much, is the registry-value rules of
 * windows-registry-defender.yaml.
 */
import type { Check, CheckContext } from '../../model/check.js';
import { HIVE_GLOBS, windowsHives } from '../../facts/windows/hives.js';
import { keyEntries, regDelete, reportValueRules, type KeyPlace, type RegistryEntry } from './registry-entries.js';
import { psQuote } from './command-line.js';

const CATEGORY = 'tampering/windows-defender';
const ROOTS = ['Microsoft\\Windows Defender', 'Policies\\Microsoft\\Windows Defender'];
const SUBKEYS = ['', 'Real-Time Protection', 'Spynet', 'Exclusions\\Paths', 'Exclusions\\Processes', 'Exclusions\\Extensions', 'Exclusions\\IpAddresses'];
/** Add-MpPreference's parameter for each exclusion list. */
const EXCLUSION_PARAMETER: Record<string, string> = { paths: 'ExclusionPath', processes: 'ExclusionProcess', extensions: 'ExclusionExtension', ipaddresses: 'ExclusionIpAddress' };
const SERVICES = ['WinDefend', 'WdNisSvc', 'WdNisDrv', 'WdFilter', 'WdBoot', 'Sense'];

export const windowsDefenderCheck: Check = {
  id: 'windows-defender',
  platforms: ['windows'],
  persistence: true,
  description: 'Microsoft Defender exclusions (paths, processes, extensions; preference and policy) and protection or services turned off',
  paths: HIVE_GLOBS,
  async run(ctx) {
    const hives = await windowsHives(ctx.vfs, (p, e) => ctx.error(p, e));
    const entries: RegistryEntry[] = [];
    if (hives.software) {
      ctx.examined(hives.software.path);
      const place: KeyPlace = { hive: hives.software, ruleRoot: 'HKLM\\SOFTWARE', regRoot: 'HKLM\\SOFTWARE', shownRoot: 'HKLM\\SOFTWARE' };
      for (const root of ROOTS) {
        for (const sub of SUBKEYS) await collect(ctx, place, sub === '' ? root : `${root}\\${sub}`, root.startsWith('Policies'), entries);
      }
    }
    if (hives.system && hives.controlSet) {
      const controlSet = hives.controlSet;
      const place: KeyPlace = {
        hive: hives.system,
        ruleRoot: 'HKLM\\SYSTEM',
        regRoot: 'HKLM\\SYSTEM',
        shownRoot: 'HKLM\\SYSTEM',
        rulePath: (p) => `CurrentControlSet${p.slice(controlSet.name.length)}`,
      };
      for (const service of SERVICES) await collect(ctx, place, `${controlSet.name}\\Services\\${service}`, false, entries, service);
    }
    reportValueRules(ctx, entries, CATEGORY);
  },
};

async function collect(ctx: CheckContext, place: KeyPlace, path: string, policy: boolean, entries: RegistryEntry[], service?: string): Promise<void> {
  try {
    const key = await place.hive.hive.openKey(path);
    if (!key) return;
    const list = path.match(/Exclusions\\(\w+)$/)?.[1]?.toLowerCase();
    for (const e of await keyEntries(ctx, place, key)) {
      if (service) {
        if (e.valueName.toLowerCase() !== 'start') continue;
        e.vars.name = service;
        e.vars.fix = `reg.exe add "${e.regKey}" /v Start /t REG_DWORD /d 2 /f   (then restart; Defender's own services may need "sc.exe config ${service} start= auto" from a recovery console)`;
      } else if (list) {
        e.vars.name = e.valueName;
        // Exclusions a policy sets come back with the next group policy refresh unless the policy goes.
        e.vars.fix = policy
          ? `${regDelete(e)}\nRemove or correct the group policy that sets it (Computer Configuration > Administrative Templates > Windows Components > Microsoft Defender Antivirus > Exclusions), then gpupdate /force`
          : `Remove-MpPreference -${EXCLUSION_PARAMETER[list] ?? 'ExclusionPath'} ${psQuote(e.valueName)}`;
      } else {
        e.vars.name = e.valueName;
        e.vars.fix = policy ? `${regDelete(e)}\ngpupdate /force` : `${regDelete(e)}\nSet-MpPreference -${e.valueName} $false`;
      }
      entries.push(e);
    }
  } catch (err) {
    ctx.error(place.hive.path, err);
  }
}
