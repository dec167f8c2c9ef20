/**
 * Judges the printable strings of an ELF file (elf-strings.ts) with the binary-strings
 * rules of the loaded packs (src/rules/builtin/miner-files.yaml and --rules): one finding
 * for the most severe rule that fires, its evidence the strings that made it fire, its
 * indicators the pools and wallets the strings name (an XMRig build with a config
 * compiled in carries them).
 */
import type { Finding } from '../model/finding.js';
import type { RuleSet } from '../rules/ruleset.js';
import { basename } from '../../mountfs/path.js';
import { extractMinerIndicators } from './pool-indicators.js';
import { listOrNone, mostSevereHit } from './rule-hits.js';

/** A string is shown up to this length in the evidence. */
const EVIDENCE_STRING = 120;
/** Strings that may name a pool or a wallet; only these go to the indicator extraction. */
const INDICATOR_CANDIDATE = /:\/\/|[a-z0-9]:\d{2,5}\b|\b[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}|0x[0-9a-fA-F]{40}|"(?:url|user|wallet)"/i;

export function judgeBinaryStrings(rules: RuleSet, path: string, strings: string[]): Finding | undefined {
  if (strings.length === 0) return undefined;
  const text = strings.join('\n');
  const hit = mostSevereHit(rules.matchLines('binary-strings', path, text), rules.contentRules('binary-strings', path));
  if (!hit) return undefined;
  const shown = [hit.text];
  if (hit.rule.match.kind === 'content') {
    for (const re of hit.rule.match.all ?? []) {
      const s = strings.find((x) => re.test(x));
      if (s !== undefined && !shown.includes(s)) shown.push(s);
    }
  }
  const evidence = shown.map((s) => (s.length > EVIDENCE_STRING ? `${s.slice(0, EVIDENCE_STRING)}…` : s)).join(' | ');
  const indicators = extractMinerIndicators(strings.filter((s) => INDICATOR_CANDIDATE.test(s)).join('\n'));
  const finding = rules.finding(hit.rule, {
    path,
    evidence,
    vars: { pools: listOrNone(indicators.pools), wallets: listOrNone(indicators.wallets), name: basename(path) },
  });
  if (indicators.pools.length > 0 || indicators.wallets.length > 0) finding.indicators = indicators;
  return finding;
}
