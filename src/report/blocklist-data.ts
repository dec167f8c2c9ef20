/**
 * Loads the firewall and security-group templates (src/rules/builtin/blocklist.yaml)
 * once, strictly: a malformed entry is a packaging bug and fails loudly with the file
 * name. Kept apart from the rule loader because these are templates, not rules.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { builtinRuleDirs } from '../rules/loader.js';

export interface PerPoolTemplate {
  kind: string;
  /** Filled with {host} and {port}. */
  withPort: string;
  /** Filled with {host}, for a pool named without a port. */
  anyPort: string;
}

export interface AllPoolsTemplate {
  kind: string;
  /** Filled with {hosts}, {hosts-comma}, {hosts-json}. */
  text: string;
}

export interface BlocklistData {
  notes: string[];
  perPool: PerPoolTemplate[];
  allPools: AllPoolsTemplate[];
}

export const BLOCKLIST_DATA_FILE = 'blocklist.yaml';

let cached: BlocklistData | undefined;

export function blocklistData(): BlocklistData {
  cached ??= parseBlocklistData(readFileSync(path.join(builtinRuleDirs()[0]!, BLOCKLIST_DATA_FILE), 'utf8'), BLOCKLIST_DATA_FILE);
  return cached;
}

export function parseBlocklistData(text: string, file: string): BlocklistData {
  const bad = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const top = parse(text) as Record<string, unknown> | null;
  const d = top?.blocklist as Record<string, unknown> | undefined;
  if (typeof d !== 'object' || d === null) return bad('"blocklist" must be a mapping');
  const list = (key: string): Record<string, unknown>[] => {
    const v = d[key];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'object' || x === null)) return bad(`blocklist.${key} must be a list of mappings`);
    return v as Record<string, unknown>[];
  };
  const str = (o: Record<string, unknown>, key: string, where: string): string => {
    const v = o[key];
    if (typeof v !== 'string' || v.trim() === '') return bad(`${where}.${key} must be a non-empty string`);
    return v;
  };
  const notes = d.notes;
  if (!Array.isArray(notes) || notes.some((n) => typeof n !== 'string')) return bad('blocklist.notes must be a list of strings');
  return {
    notes: notes as string[],
    perPool: list('per-pool').map((t, i) => ({
      kind: str(t, 'kind', `per-pool[${i}]`),
      withPort: str(t, 'with-port', `per-pool[${i}]`),
      anyPort: str(t, 'any-port', `per-pool[${i}]`),
    })),
    allPools: list('all-pools').map((t, i) => ({ kind: str(t, 'kind', `all-pools[${i}]`), text: str(t, 'text', `all-pools[${i}]`) })),
  };
}
