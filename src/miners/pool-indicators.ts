/**
 * Pulls the mining pools and wallets out of any text a miner leaves: command lines,
 * XMRig-style JSON configurations (https://xmrig.com/docs/miner/config), strings of a
 * binary. The report turns them into firewall entries, so a false pool costs an
 * operator a wrong block rule: an endpoint without a stratum scheme counts only on a
 * known pool domain, or on a typical pool port next to a wallet or a -u value.
 * What counts as a pool domain, pool port or address lives in
 * src/rules/builtin/miner-pools.yaml.
 */
import type { MinerIndicators } from '../model/finding.js';
import { poolData, type PoolData } from './pool-data.js';

/** Longer text is cut: a miner's pools sit in its first lines or its strings table. */
export const MAX_INDICATOR_TEXT = 4 << 20;
/** At most this many pools and this many wallets per text. */
export const MAX_INDICATORS = 64;
/** An option value longer than this is no endpoint or address. */
const MAX_VALUE = 300;

interface Hit {
  index: number;
  value: string;
}

interface Patterns {
  schemeUrl: RegExp;
  optionEndpoint: RegExp;
  jsonEndpoint: RegExp;
  bareEndpoint: RegExp;
  optionUser: RegExp;
  jsonUser: RegExp;
}

let patterns: { data: PoolData; re: Patterns } | undefined;

function compiled(): { data: PoolData; re: Patterns } {
  if (patterns) return patterns;
  const data = poolData();
  const schemes = [...data.urlSchemes].sort((a, b) => b.length - a.length).map((s) => s.replace(/\+/g, '\\+'));
  patterns = {
    data,
    re: {
      // "stratum+tcp://[user@]host[:port]"; the user part of the URL is not the host.
      schemeUrl: new RegExp(`(?<![a-z0-9+])(?:${schemes.join('|')})://(?:[^@\\s/"']{0,${MAX_VALUE}}@)?([a-z0-9.-]{1,253})(?::(\\d{1,5}))?`, 'gi'),
      // -o / --url / --pool (cpuminer, XMRig, T-Rex, lolMiner, SRBMiner, PhoenixMiner).
      optionEndpoint: new RegExp(`(?:^|[\\s'"])(?:-o|--url|--pool|-pool)(?:\\s+|=)['"]?([^\\s'"]{1,${MAX_VALUE}})`, 'gi'),
      jsonEndpoint: new RegExp(`"(?:url|pool)"\\s*:\\s*"([^"\\s]{1,${MAX_VALUE}})"`, 'gi'),
      bareEndpoint: /(?<![a-z0-9.@-])([a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,10}):(\d{1,5})(?!\d)/gi,
      optionUser: new RegExp(`(?:^|[\\s'"])(?:-u|--user|-user|--wallet|-wal)(?:\\s+|=)['"]?([^\\s'"]{1,${MAX_VALUE}})`, 'g'),
      jsonUser: new RegExp(`"(?:user|wallet)"\\s*:\\s*"([^"]{1,${MAX_VALUE}})"`, 'gi'),
    },
  };
  return patterns;
}

export function extractMinerIndicators(input: string): MinerIndicators {
  const text = input.length > MAX_INDICATOR_TEXT ? input.slice(0, MAX_INDICATOR_TEXT) : input;
  const { data, re } = compiled();

  const walletHits: Hit[] = [];
  for (const format of data.wallets) {
    for (const m of matches(format.regex, text)) walletHits.push({ index: m.index, value: m[0] });
  }
  const users = [...matches(re.optionUser, text), ...matches(re.jsonUser, text)];
  for (const m of users) {
    const address = m[1]!.split(/[.+/:]/)[0]!;
    if (data.userWallets.some((f) => f.regex.test(address))) walletHits.push({ index: m.index, value: address });
  }
  const wallets = ordered(walletHits);
  const minerUser = wallets.length > 0 || users.length > 0;

  const poolHits: Hit[] = [];
  for (const m of matches(re.schemeUrl, text)) {
    const pool = endpoint(m[1]!, m[2]);
    if (pool) poolHits.push({ index: m.index, value: pool });
  }
  for (const m of [...matches(re.optionEndpoint, text), ...matches(re.jsonEndpoint, text)]) {
    const value = m[1]!;
    if (value.includes('://')) continue; // a scheme URL, found above
    const parts = /^([a-z0-9.-]+)(?::(\d{1,5}))?\/?$/i.exec(value);
    if (!parts) continue;
    const host = parts[1]!.toLowerCase();
    const port = parts[2] === undefined ? undefined : Number(parts[2]);
    const known = isPoolDomain(host, data);
    if (!known && !(port !== undefined && data.ports.has(port) && minerUser)) continue;
    const pool = endpoint(host, parts[2]);
    if (pool) poolHits.push({ index: m.index, value: pool });
  }
  for (const m of matches(re.bareEndpoint, text)) {
    if (!isPoolDomain(m[1]!.toLowerCase(), data)) continue;
    const pool = endpoint(m[1]!, m[2]);
    if (pool) poolHits.push({ index: m.index, value: pool });
  }
  return { pools: ordered(poolHits), wallets };
}

/** True when the host is a known pool domain or a name under one. */
export function isPoolDomain(host: string, data: PoolData = poolData()): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return data.domains.some((d) => h === d || h.endsWith(`.${d}`));
}

/** "host:port", lower-case, or undefined when the host is no plausible name or address. */
function endpoint(rawHost: string, rawPort: string | undefined): string | undefined {
  const host = rawHost.toLowerCase().replace(/\.$/, '');
  const ipv4 = /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host);
  const name = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$/.test(host) || host === 'localhost';
  if (!ipv4 && !name) return undefined;
  if (ipv4 && host.split('.').some((o) => Number(o) > 255)) return undefined;
  if (rawPort === undefined) return host;
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return `${host}:${port}`;
}

/** Every match of a global regex, bounded: a hostile text cannot make this loop forever. */
function* matches(regex: RegExp, text: string): Generator<RegExpExecArray> {
  const re = new RegExp(regex.source, regex.flags.includes('g') ? regex.flags : `${regex.flags}g`);
  let count = 0;
  for (let m = re.exec(text); m !== null && count < MAX_INDICATORS * 16; m = re.exec(text)) {
    count++;
    yield m;
    if (m[0].length === 0) re.lastIndex++;
  }
}

/** Values in the order they appear in the text, each once, at most MAX_INDICATORS. */
function ordered(hits: Hit[]): string[] {
  hits.sort((a, b) => a.index - b.index);
  const out: string[] = [];
  for (const h of hits) {
    if (out.length >= MAX_INDICATORS) break;
    if (!out.includes(h.value)) out.push(h.value);
  }
  return out;
}
