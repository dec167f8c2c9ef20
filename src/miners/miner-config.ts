/**
 * Miner configurations and pool lists found by content, whatever their name or place:
 * XMRig's config.json (https://xmrig.com/docs/miner/config: "pools" with "url",
 * "user", and its "donate-level", "cpu", "randomx" settings), xmr-stak's pools.txt
 * ("pool_list", "pool_address", "wallet_address"), and text files that pair a stratum
 * URL with an account. The miner-config rules read the text line by line, so the
 * comments and trailing commas XMRig tolerates need no JSON parser.
 */
import type { Finding } from '../model/finding.js';
import type { RuleSet } from '../rules/ruleset.js';
import { basename } from '../../mountfs/path.js';
import { extractMinerIndicators } from './pool-indicators.js';
import { listOrNone, mostSevereHit } from './rule-hits.js';

/** Files named like a configuration are read up to this size. */
export const CONFIG_MAX_BYTES = 1 << 20;
/** Any other text file this small is read too: a pool list can be called anything. */
export const SMALL_TEXT_MAX_BYTES = 16 << 10;

/** XMRig reads config.json (config_background.json when started with --background). */
const CONFIG_NAME = /^(?:config(?:_background)?\.json|.+\.(?:json|conf|cfg|txt))$/i;

export function isConfigName(path: string): boolean {
  return CONFIG_NAME.test(basename(path));
}

/** No NUL and few control bytes in the sample: text, not a binary. */
export function looksLikeText(sample: Buffer): boolean {
  if (sample.length === 0) return false;
  let control = 0;
  for (const b of sample) {
    if (b === 0) return false;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) control++;
  }
  return control * 20 < sample.length;
}

export function judgeMinerConfig(rules: RuleSet, path: string, text: string): Finding | undefined {
  const hit = mostSevereHit(rules.matchLines('miner-config', path, text), rules.contentRules('miner-config', path));
  if (!hit) return undefined;
  const indicators = extractMinerIndicators(text);
  const finding = rules.finding(hit.rule, {
    path,
    line: hit.line,
    evidence: hit.text.trim(),
    vars: { pools: listOrNone(indicators.pools), wallets: listOrNone(indicators.wallets), name: basename(path) },
  });
  if (indicators.pools.length > 0 || indicators.wallets.length > 0) finding.indicators = indicators;
  return finding;
}
