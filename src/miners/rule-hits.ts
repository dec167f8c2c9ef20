/**
 * One finding per file: of the content-rule hits on a file, the most severe rule wins,
 * the rule loaded first on a tie (pack order is the order authors wrote them in).
 */
import { severityRank } from '../model/finding.js';
import type { LineHit } from '../rules/ruleset.js';

export function mostSevereHit(hits: LineHit[], order: readonly { id: string }[]): LineHit | undefined {
  const rank = new Map(order.map((r, i) => [r.id, i]));
  let best: LineHit | undefined;
  for (const hit of hits) {
    if (!best) {
      best = hit;
      continue;
    }
    const d = severityRank(hit.rule.severity) - severityRank(best.rule.severity);
    if (d > 0 || (d === 0 && (rank.get(hit.rule.id) ?? Infinity) < (rank.get(best.rule.id) ?? Infinity))) best = hit;
  }
  return best;
}

/** "a, b" or "none": how a rule message names the pools or wallets of a file. */
export function listOrNone(values: string[]): string {
  return values.length > 0 ? values.join(', ') : 'none';
}
