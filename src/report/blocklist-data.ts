/**
 * Loads the firewall and security-group templates (src/rules/builtin/blocklist.yaml)
 * once, strictly: a malformed entry is a packaging bug and fails loudly with the file
 * name. Kept apart from the rule loader because these are templates, not rules.
 */
import { builtinDataFile, parseDataSection } from '../rules/data-file.js';

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

export const blocklistData: () => BlocklistData = builtinDataFile(BLOCKLIST_DATA_FILE, parseBlocklistData);

export function parseBlocklistData(text: string, file: string): BlocklistData {
  const { section: d, bad } = parseDataSection(text, file, 'blocklist');
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
