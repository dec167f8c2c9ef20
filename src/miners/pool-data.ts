/**
 * Loads the pool and wallet data (src/rules/builtin/miner-pools.yaml) once, strictly:
 * a malformed entry is a packaging bug and fails loudly with the file name, never a
 * pattern that silently matches nothing. Kept apart from the rule loader because
 * pool extraction is a pure text function every check calls without a RuleSet.
 */
import { builtinDataFile, parseDataSection } from '../rules/data-file.js';

export interface AddressFormat {
  name: string;
  regex: RegExp;
}

export interface PoolData {
  urlSchemes: string[];
  /** Lower-case pool domains; a host equal to one or ending in "." + one matches. */
  domains: string[];
  ports: Set<number>;
  /** Searched anywhere in the text (global regexes). */
  wallets: AddressFormat[];
  /** Tested against a whole -u/--user/"user" value (anchored regexes). */
  userWallets: AddressFormat[];
}

export const POOL_DATA_FILE = 'miner-pools.yaml';

export const poolData: () => PoolData = builtinDataFile(POOL_DATA_FILE, parsePoolData);

export function parsePoolData(text: string, file: string): PoolData {
  const { section: d, bad } = parseDataSection(text, file, 'miner-pools');
  const strings = (key: string): string[] => {
    const v = d[key];
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || x === '')) {
      return bad(`miner-pools.${key} must be a non-empty list of strings`);
    }
    return v as string[];
  };
  const formats = (key: string, flags: string): AddressFormat[] => {
    const v = d[key];
    if (!Array.isArray(v) || v.length === 0) return bad(`miner-pools.${key} must be a non-empty list`);
    return v.map((e: unknown, i) => {
      const f = e as Record<string, unknown>;
      if (typeof f?.name !== 'string' || typeof f.regex !== 'string') return bad(`miner-pools.${key}[${i}] needs name and regex`);
      try {
        return { name: f.name, regex: new RegExp(f.regex, flags) };
      } catch (err) {
        return bad(`miner-pools.${key}[${i}]: ${(err as Error).message}`);
      }
    });
  };
  const ports = d.ports;
  if (!Array.isArray(ports) || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    bad('miner-pools.ports must be a list of port numbers');
  }
  const schemes = strings('url-schemes');
  for (const s of schemes) if (!/^[a-z][a-z0-9+]*$/.test(s)) bad(`miner-pools.url-schemes: "${s}" is not a URL scheme`);
  const domains = strings('domains').map((x) => x.toLowerCase());
  for (const x of domains) if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(x)) bad(`miner-pools.domains: "${x}" is not a domain`);
  return {
    urlSchemes: schemes,
    domains,
    ports: new Set(ports as number[]),
    wallets: formats('wallets', 'g'),
    userWallets: formats('user-wallets', ''),
  };
}
