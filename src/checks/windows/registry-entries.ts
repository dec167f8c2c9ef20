/**
 * What the Windows registry checks share: a registry value as the rules read it, and
 * the two ways it is judged.
 *
 * - Name rules of scope `registry-value` read "<root>\<key path>\<value name>=<data>",
 *   the root being HKLM\SYSTEM (with CurrentControlSet for the current control set),
 *   HKLM\SOFTWARE, or HKCU for a profile's NTUSER.DAT, so a pack says which key and
 *   which data are suspicious (a Winlogon Shell that is not explorer.exe, a Defender
 *   exclusion of ProgramData). Of the rules that match one value, the most severe are
 *   reported: a generic rule ("any Defender exclusion") and a specific one ("an
 *   exclusion of a temporary folder") on one value give one finding.
 * - Values that run a command (ImagePath, Run entries, debuggers) go through the
 *   command-line rules (registry-commands.ts).
 *
 * Findings name the hive file as their path and the key and value in their evidence
 * ("HKLM\SYSTEM\ControlSet001\Services\x\ImagePath = ..."); they carry no line number.
 */
import type { CheckContext } from '../../model/check.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { severityRank } from '../../model/finding.js';
import type { Rule } from '../../rules/types.js';
import type { TemplateVars } from '../../rules/ruleset.js';
import type { HiveFile } from '../../facts/windows/hives.js';
import type { RegistryKey } from '../../facts/windows/registry/hive.js';
import { valueText } from '../../facts/windows/registry/value-data.js';
import { cmdQuote } from './command-line.js';

/** Characters of a value's data the rules read; persistence values are far shorter. */
const MAX_DATA = 8192;
/** Values of one key read at most: a Run key holds a few dozen; a hostile one is cut, with a `limit` error. */
const MAX_VALUES_PER_KEY = 4096;

export interface RegistryEntry {
  hive: HiveFile;
  /** "HKLM\SOFTWARE\Microsoft\...\Run\name": the value where it is stored (ControlSet001 as stored). */
  where: string;
  /** The key as reg.exe names it on the running system ("HKLM\SOFTWARE\...", "HKU\<SID>\Software\..."). */
  regKey: string;
  /** "HKLM\SYSTEM\CurrentControlSet\...\name=data": what the registry-value rules read. */
  ruleText: string;
  valueName: string;
  data: string;
  /** Variables for the findings of this value: `context` at least, `fix` for command scans. */
  vars: TemplateVars;
}

export interface KeyPlace {
  hive: HiveFile;
  /** Prefix of the rule text: "HKLM\SYSTEM", "HKLM\SOFTWARE", "HKCU". */
  ruleRoot: string;
  /** Prefix of the reg.exe key: "HKLM\SYSTEM", "HKLM\SOFTWARE", "HKU\<SID>". */
  regRoot: string;
  /** Prefix of the location shown: "HKLM\SYSTEM", "HKU\alice (C:\Users\alice\NTUSER.DAT)". */
  shownRoot: string;
  /** The key path the rules read instead of the stored one (ControlSet001 → CurrentControlSet). */
  rulePath?: (storedPath: string) => string;
}

/** Every value of the key, as entries (data decoded to one line of text, cut to MAX_DATA). */
export async function keyEntries(ctx: CheckContext, place: KeyPlace, key: RegistryKey, vars: (valueName: string) => TemplateVars = () => ({})): Promise<RegistryEntry[]> {
  const { hive } = place.hive;
  const out: RegistryEntry[] = [];
  const values = await hive.values(key);
  if (values.length > MAX_VALUES_PER_KEY) {
    ctx.error(place.hive.path, limitExceeded('registry key (nk)', `${hive.show(key)} has ${values.length} values; the first ${MAX_VALUES_PER_KEY} are read`));
  }
  for (const value of values.slice(0, MAX_VALUES_PER_KEY)) {
    let data: string;
    try {
      data = valueText(await hive.decoded(value)).replace(/[\r\n]+/g, ' ');
    } catch (err) {
      ctx.error(place.hive.path, err);
      continue;
    }
    if (data.length > MAX_DATA) data = data.slice(0, MAX_DATA);
    const rulePath = place.rulePath ? place.rulePath(key.path) : key.path;
    const name = value.name === '' ? '(Default)' : value.name;
    out.push({
      hive: place.hive,
      where: `${place.shownRoot}\\${key.path}\\${name}`,
      regKey: `${place.regRoot}\\${key.path}`,
      ruleText: `${place.ruleRoot}\\${rulePath}\\${name}=${data}`,
      valueName: value.name,
      data,
      vars: vars(value.name),
    });
  }
  return out;
}

/** The reg.exe command deleting the value. */
export function regDelete(entry: RegistryEntry): string {
  return entry.valueName === '' ? `reg.exe delete ${cmdQuote(entry.regKey)} /ve /f` : `reg.exe delete ${cmdQuote(entry.regKey)} /v ${cmdQuote(entry.valueName)} /f`;
}

export function baseVars(entry: RegistryEntry): TemplateVars {
  return { where: entry.where, data: entry.data, regKey: entry.regKey, valueName: entry.valueName === '' ? '(Default)' : entry.valueName, regDelete: regDelete(entry) };
}

/** Reports, for each entry, the most severe registry-value rules it matches. */
export function reportValueRules(ctx: CheckContext, entries: RegistryEntry[], category: string): void {
  for (const entry of entries) {
    const rules = ctx.rules.matchName('registry-value', entry.ruleText);
    if (rules.length === 0) continue;
    const top = Math.max(...rules.map((r) => severityRank(r.severity)));
    for (const rule of rules.filter((r: Rule) => severityRank(r.severity) === top)) {
      ctx.report(
        ctx.rules.finding(rule, {
          path: entry.hive.path,
          evidence: `${entry.where} = ${entry.data}`,
          category,
          vars: { ...baseVars(entry), ...entry.vars },
        }),
      );
    }
  }
}
