/**
 * The report's blocklist section (src/model/report.ts, ReportBlocklist): the mining
 * pools and wallets the findings name, each pool with firewall and security-group
 * entries filled from src/rules/builtin/blocklist.yaml. minescan never applies them.
 *
 * A finding's pools come from its `indicators` when the check set them, else from its
 * evidence through extractMinerIndicators. Only host names and addresses of
 * [a-z0-9.-] and numeric ports reach a template, so a hostile image cannot put shell
 * syntax into a suggested command.
 */
import type { Finding, MinerIndicators } from '../model/finding.js';
import { extractMinerIndicators } from '../miners/pool-indicators.js';
import { blocklistData, type BlocklistData } from './blocklist-data.js';
import type { BlocklistPool, BlocklistWallet, ReportBlocklist } from '../model/report.js';

export const MAX_POOLS = 200;
export const MAX_WALLETS = 200;

const HOST = /^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*$/;
const WALLET = /^[A-Za-z0-9]{8,200}$/;

export function buildBlocklist(findings: readonly Pick<Finding, 'indicators' | 'evidence'>[], data: BlocklistData = blocklistData()): ReportBlocklist {
  const pools = new Map<string, BlocklistPool>();
  const wallets = new Map<string, BlocklistWallet>();
  const omitted = { pools: new Set<string>(), wallets: new Set<string>() };
  findings.forEach((f, index) => {
    const found = indicatorsOf(f);
    const named: string[] = [];
    for (const raw of found.pools) {
      const parsed = parsePool(raw);
      if (!parsed) continue;
      let pool = pools.get(parsed.pool);
      if (!pool) {
        if (pools.size >= MAX_POOLS) {
          omitted.pools.add(parsed.pool);
          continue;
        }
        pool = { ...parsed, findings: [], entries: entriesFor(parsed.host, parsed.port, data) };
        pools.set(parsed.pool, pool);
      }
      if (!pool.findings.includes(index)) pool.findings.push(index);
      named.push(parsed.pool);
    }
    for (const w of found.wallets) {
      if (!WALLET.test(w)) continue;
      let wallet = wallets.get(w);
      if (!wallet) {
        if (wallets.size >= MAX_WALLETS) {
          omitted.wallets.add(w);
          continue;
        }
        wallet = { wallet: w, findings: [], pools: [] };
        wallets.set(w, wallet);
      }
      if (!wallet.findings.includes(index)) wallet.findings.push(index);
      for (const p of named) if (!wallet.pools.includes(p)) wallet.pools.push(p);
    }
  });
  const hosts = [...new Set([...pools.values()].map((p) => p.host))];
  return {
    notes: pools.size + wallets.size > 0 ? [...data.notes] : [],
    pools: [...pools.values()],
    wallets: [...wallets.values()],
    cloud: hosts.length === 0 ? [] : data.allPools.map((t) => ({ kind: t.kind, text: fillHosts(t.text, hosts) })),
    omitted: { pools: omitted.pools.size, wallets: omitted.wallets.size },
  };
}

function indicatorsOf(f: Pick<Finding, 'indicators' | 'evidence'>): MinerIndicators {
  return f.indicators ?? extractMinerIndicators(f.evidence);
}

function parsePool(raw: string): { pool: string; host: string; port?: number } | undefined {
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(raw.toLowerCase().trim());
  if (!m || m[1]!.length > 253 || !HOST.test(m[1]!)) return undefined;
  const host = m[1]!;
  if (m[2] === undefined) return { pool: host, host };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { pool: `${host}:${port}`, host, port };
}

function entriesFor(host: string, port: number | undefined, data: BlocklistData): BlocklistPool['entries'] {
  return data.perPool.map((t) => ({
    kind: t.kind,
    text: (port === undefined ? t.anyPort : t.withPort).replace(/\{(host|port)\}/g, (_, name: string) => (name === 'host' ? host : String(port))),
  }));
}

function fillHosts(template: string, hosts: string[]): string {
  const values: Record<string, string> = {
    hosts: hosts.join(' '),
    'hosts-comma': hosts.join(','),
    'hosts-json': JSON.stringify(hosts),
  };
  return template.replace(/\{(hosts|hosts-comma|hosts-json)\}/g, (_, name: string) => values[name]!);
}
