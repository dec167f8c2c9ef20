/**
 * Windows services: every service of the current control set
 * (HKLM\SYSTEM\CurrentControlSet\Services\<name>): the command line it runs
 * (ImagePath), the DLL an svchost-hosted service loads (Parameters\ServiceDll), the
 * program and arguments a service wrapper such as nssm starts (Parameters\Application
 * and AppParameters), its start type and account. Miners install themselves as a
 * service to run at boot as LocalSystem, from a folder anyone can write to.
 *
 * The command lines go through the command-line rules (windows-registry scope), the
 * values through the registry-value rules (windows-registry.yaml,
 * windows-registry-defender.yaml: a Defender service disabled, the WinRing0 driver).
 */
import type { Check, CheckContext } from '../../model/check.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { HIVE_GLOBS, windowsHives } from '../../facts/windows/hives.js';
import type { RegistryKey } from '../../facts/windows/registry/hive.js';
import { COMMAND_SCAN_RULE_IDS } from '../shared/command-scan.js';
import { scanEntryCommands } from './registry-commands.js';
import { keyEntries, reportValueRules, type KeyPlace, type RegistryEntry } from './registry-entries.js';
import { cmdQuote, isWindowsProgram, psQuote, windowsProgram } from './command-line.js';

const CATEGORY = 'persistence/windows-service';
/** A server has several hundred services and drivers; a hostile hive is cut here. */
const MAX_SERVICES = 20_000;
const BATCH = 256;
/** Values of a service key the rules read. */
const SERVICE_VALUES = new Set(['imagepath', 'start', 'objectname', 'type']);
const COMMAND_VALUES = new Set(['imagepath', 'servicedll', 'application']);
const START_TYPES: Record<string, string> = { '0': 'boot start', '1': 'system start', '2': 'automatic start', '3': 'manual start', '4': 'disabled' };

export const windowsServicesCheck: Check = {
  id: 'windows-services',
  platforms: ['windows'],
  persistence: true,
  description: 'Windows services (SYSTEM CurrentControlSet\\Services): programs, service DLLs and wrappers run from writable places, miners, pools, encoded PowerShell',
  paths: HIVE_GLOBS,
  ruleIds: COMMAND_SCAN_RULE_IDS,
  async run(ctx) {
    const hives = await windowsHives(ctx.vfs, (p, e) => ctx.error(p, e));
    const system = hives.system;
    if (!system || !hives.controlSet) return;
    ctx.examined(system.path);
    const controlSet = hives.controlSet;
    const place: KeyPlace = {
      hive: system,
      ruleRoot: 'HKLM\\SYSTEM',
      regRoot: 'HKLM\\SYSTEM',
      shownRoot: 'HKLM\\SYSTEM',
      rulePath: (p) => (p.toLowerCase().startsWith(controlSet.name.toLowerCase()) ? `CurrentControlSet${p.slice(controlSet.name.length)}` : p),
    };
    let services: RegistryKey[];
    try {
      const key = await system.hive.subkey(controlSet, 'Services');
      services = key ? await system.hive.subkeys(key) : [];
    } catch (err) {
      ctx.error(system.path, err);
      return;
    }
    if (services.length > MAX_SERVICES) {
      ctx.error(system.path, limitExceeded('registry subkey list', `${services.length} services; the first ${MAX_SERVICES} are read`));
    }
    // Judged a batch at a time, so memory stays bounded whatever the hive holds.
    for (let at = 0; at < Math.min(services.length, MAX_SERVICES); at += BATCH) {
      const valueEntries: RegistryEntry[] = [];
      const commandEntries: RegistryEntry[] = [];
      for (const service of services.slice(at, Math.min(at + BATCH, MAX_SERVICES))) {
        try {
          await readService(ctx, place, service, valueEntries, commandEntries);
        } catch (err) {
          ctx.error(system.path, err);
        }
      }
      reportValueRules(ctx, valueEntries, CATEGORY);
      await scanEntryCommands(ctx, commandEntries, CATEGORY);
    }
  },
};

async function readService(ctx: CheckContext, place: KeyPlace, service: RegistryKey, valueEntries: RegistryEntry[], commandEntries: RegistryEntry[]): Promise<void> {
  const { hive } = place.hive;
  const own = await keyEntries(ctx, place, service);
  const parametersKey = await hive.subkey(service, 'Parameters');
  const parameters = parametersKey ? await keyEntries(ctx, place, parametersKey) : [];
  const get = (list: RegistryEntry[], name: string) => list.find((e) => e.valueName.toLowerCase() === name)?.data;
  const start = get(own, 'start');
  const account = get(own, 'objectname') ?? 'LocalSystem';
  const program = windowsProgram(get(parameters, 'servicedll') ?? get(parameters, 'application') ?? get(own, 'imagepath') ?? '');
  const fix = [
    `sc.exe stop ${cmdQuote(service.name)}`,
    `sc.exe delete ${cmdQuote(service.name)}`,
    ...(program && !isWindowsProgram(program) ? [`Remove-Item -Force -LiteralPath ${psQuote(program)}`] : []),
  ].join('\n');
  const context = ` (service ${service.name}, ${START_TYPES[start ?? ''] ?? `start type ${start ?? 'unset'}`}, runs as ${account})`;
  const vars = { context, fix, name: service.name };
  for (const list of [own, parameters]) {
    for (const e of list) {
      Object.assign(e.vars, vars);
      const name = e.valueName.toLowerCase();
      if (list === parameters || SERVICE_VALUES.has(name)) valueEntries.push(e);
      if (COMMAND_VALUES.has(name) && (list === parameters || name === 'imagepath')) commandEntries.push(e);
    }
  }
  // A wrapper's program and its arguments run as one command line.
  const application = parameters.find((e) => e.valueName.toLowerCase() === 'application');
  const args = get(parameters, 'appparameters');
  if (application && args) application.data = `${application.data} ${args}`;
}
