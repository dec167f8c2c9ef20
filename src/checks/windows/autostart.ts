/**
 * Windows autostart keys, machine-wide (SOFTWARE) and in every profile's NTUSER.DAT,
 * 64- and 32-bit views (Wow6432Node): Run, RunOnce, RunServices, RunServicesOnce and
 * the Explorer policy Run key; Winlogon Shell and Userinit (what starts at logon in
 * place of, or besides, explorer.exe and userinit.exe); Image File Execution Options
 * debuggers and SilentProcessExit monitors (a program started whenever another one
 * starts or exits); AppInit_DLLs (loaded into every process that loads user32). The
 * command lines go through the command-line rules, the values through the
 * registry-value rules of windows-registry.yaml.
 */
import type { Check, CheckContext } from '../../model/check.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { HIVE_GLOBS, windowsHives, type HiveFile, type UserHive } from '../../facts/windows/hives.js';
import { COMMAND_SCAN_RULE_IDS } from '../shared/command-scan.js';
import { scanEntryCommands } from './registry-commands.js';
import { keyEntries, regDelete, reportValueRules, type KeyPlace, type RegistryEntry } from './registry-entries.js';
import { cmdQuote, isWindowsProgram, psQuote, asWindowsPath, windowsProgram } from './command-line.js';

const CATEGORY = 'persistence/windows-autostart';
const RUN_KEYS = ['Run', 'RunOnce', 'RunServices', 'RunServicesOnce', 'Policies\\Explorer\\Run'];
const MACHINE_RUN = [
  ...RUN_KEYS.map((k) => `Microsoft\\Windows\\CurrentVersion\\${k}`),
  ...RUN_KEYS.map((k) => `Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\${k}`),
];
const USER_RUN = [
  ...RUN_KEYS.map((k) => `Software\\Microsoft\\Windows\\CurrentVersion\\${k}`),
  ...RUN_KEYS.map((k) => `Software\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\${k}`),
];
const NT = 'Microsoft\\Windows NT\\CurrentVersion';
/** Debuggers and monitors of at most this many programs are read; a real system has a few hundred IFEO keys. */
const MAX_IFEO = 4096;

/** What restores a Winlogon value to what Windows ships. */
const WINLOGON_DEFAULTS: Record<string, string> = { shell: 'explorer.exe', userinit: 'C:\\Windows\\system32\\userinit.exe,' };

export const windowsAutostartCheck: Check = {
  id: 'windows-autostart',
  platforms: ['windows'],
  persistence: true,
  description: 'Windows autostart registry keys: Run/RunOnce (machine and every profile, Wow6432Node too), Winlogon Shell/Userinit, IFEO debuggers, SilentProcessExit monitors, AppInit_DLLs',
  paths: HIVE_GLOBS,
  ruleIds: COMMAND_SCAN_RULE_IDS,
  async run(ctx) {
    const hives = await windowsHives(ctx.vfs, (p, e) => ctx.error(p, e));
    const entries: RegistryEntry[] = [];
    const commands: RegistryEntry[] = [];
    if (hives.software) {
      ctx.examined(hives.software.path);
      const place = machinePlace(hives.software);
      await collect(ctx, place, MACHINE_RUN, entries, commands, 'run');
      await collect(ctx, place, [`${NT}\\Winlogon`, `Wow6432Node\\${NT}\\Winlogon`], entries, commands, 'winlogon');
      await collect(ctx, place, [`${NT}\\Windows`, `Wow6432Node\\${NT}\\Windows`], entries, commands, 'appinit');
      for (const base of [`${NT}\\Image File Execution Options`, `Wow6432Node\\${NT}\\Image File Execution Options`, `${NT}\\SilentProcessExit`]) {
        await collectSubkeys(ctx, place, base, entries, commands);
      }
    }
    for (const user of hives.users) {
      ctx.examined(user.path);
      const place = userPlace(user);
      await collect(ctx, place, USER_RUN, entries, commands, 'run');
      await collect(ctx, place, [`Software\\${NT}\\Winlogon`, `Software\\${NT}\\Windows`], entries, commands, 'user-winlogon');
    }
    reportValueRules(ctx, entries, CATEGORY);
    await scanEntryCommands(ctx, commands, CATEGORY);
  },
};

function machinePlace(hive: HiveFile): KeyPlace {
  return { hive, ruleRoot: 'HKLM\\SOFTWARE', regRoot: 'HKLM\\SOFTWARE', shownRoot: 'HKLM\\SOFTWARE' };
}

function userPlace(user: UserHive): KeyPlace {
  const root = `HKU\\${user.sid ?? user.user}`;
  return { hive: user, ruleRoot: 'HKCU', regRoot: root, shownRoot: `HKU\\${user.user} (${asWindowsPath(user.path)})` };
}

type Kind = 'run' | 'winlogon' | 'appinit' | 'user-winlogon';

/** Values of the keys: all of them feed the registry-value rules, those that run a command the command scan. */
async function collect(ctx: CheckContext, place: KeyPlace, keys: string[], entries: RegistryEntry[], commands: RegistryEntry[], kind: Kind): Promise<void> {
  for (const path of keys) {
    try {
      const key = await place.hive.hive.openKey(path);
      if (!key) continue;
      for (const e of await keyEntries(ctx, place, key)) {
        const name = e.valueName.toLowerCase();
        e.vars.context = context(place, kind, e);
        e.vars.fix = fixFor(place, kind, e);
        entries.push(e);
        const runs =
          kind === 'run' ||
          (kind === 'winlogon' && (name === 'shell' || name === 'userinit')) ||
          (kind === 'user-winlogon' && (name === 'shell' || name === 'load' || name === 'run')) ||
          (kind === 'appinit' && name === 'appinit_dlls');
        if (runs && e.data.trim() !== '') commands.push(e);
      }
    } catch (err) {
      ctx.error(place.hive.path, err);
    }
  }
}

/** IFEO and SilentProcessExit: one subkey per program; a Debugger or MonitorProcess value runs a command. */
async function collectSubkeys(ctx: CheckContext, place: KeyPlace, base: string, entries: RegistryEntry[], commands: RegistryEntry[]): Promise<void> {
  const { hive } = place.hive;
  try {
    const key = await hive.openKey(base);
    if (!key) return;
    const programs = await hive.subkeys(key);
    if (programs.length > MAX_IFEO) ctx.error(place.hive.path, limitExceeded('registry subkey list', `${hive.show(key)} has ${programs.length} subkeys; the first ${MAX_IFEO} are read`));
    for (const program of programs.slice(0, MAX_IFEO)) {
      if (program.node.valueCount === 0) continue;
      for (const e of await keyEntries(ctx, place, program)) {
        const name = e.valueName.toLowerCase();
        if (name !== 'debugger' && name !== 'monitorprocess' && name !== 'globalflag' && name !== 'reportingmode') continue;
        e.vars.context = ` (${name === 'debugger' ? 'debugger' : 'exit monitor'} of ${program.name})`;
        e.vars.fix = [regDelete(e), ...deleteProgram(e.data)].join('\n');
        e.vars.name = program.name;
        entries.push(e);
        if (name === 'debugger' || name === 'monitorprocess') commands.push(e);
      }
    }
  } catch (err) {
    ctx.error(place.hive.path, err);
  }
}

function context(place: KeyPlace, kind: Kind, e: RegistryEntry): string {
  const who = place.ruleRoot === 'HKCU' ? `of ${place.shownRoot}` : 'for every user';
  if (kind === 'run') return ` (autostart entry ${e.valueName === '' ? '(Default)' : e.valueName}, run at logon ${who})`;
  if (kind === 'appinit') return ' (DLLs loaded into every process that loads user32.dll)';
  return ` (Winlogon ${e.valueName}, run at logon ${who})`;
}

function fixFor(place: KeyPlace, kind: Kind, e: RegistryEntry): string {
  const name = e.valueName.toLowerCase();
  const load = place.ruleRoot === 'HKCU' ? [`reg.exe load ${cmdQuote(place.regRoot)} ${cmdQuote(asWindowsPath(place.hive.path))}   (only when the user is not logged on; reg.exe unload afterwards)`] : [];
  if (kind === 'winlogon' && WINLOGON_DEFAULTS[name] !== undefined) {
    return [`reg.exe add ${cmdQuote(e.regKey)} /v ${e.valueName} /t REG_SZ /d ${cmdQuote(WINLOGON_DEFAULTS[name]!)} /f`, ...deleteProgram(e.data)].join('\n');
  }
  if (kind === 'appinit') return [`reg.exe add ${cmdQuote(e.regKey)} /v AppInit_DLLs /t REG_SZ /d "" /f`, `reg.exe add ${cmdQuote(e.regKey)} /v LoadAppInit_DLLs /t REG_DWORD /d 0 /f`, ...deleteProgram(e.data)].join('\n');
  return [...load, regDelete(e), ...deleteProgram(e.data)].join('\n');
}

/** Removing the program a value starts, unless it ships with Windows. */
function deleteProgram(commandLine: string): string[] {
  const program = windowsProgram(commandLine.split(',')[0] ?? '');
  return program && !isWindowsProgram(program) ? [`Remove-Item -Force -LiteralPath ${psQuote(program)}`] : [];
}
