/**
 * Which of two findings on one path stands, decided once by the engine from the rule
 * packs rather than by a check that knows another check's rule ids: a rule's `yields`
 * lists the findings its own gives way to on the same path (src/rules/types.ts). An
 * unowned program in /usr/bin says less than "a moved-aside ps.original" or "a known
 * kinsing binary" about the same file, so it is dropped when either is there. Run after
 * every check, it does not depend on the order the checks ran in.
 */
import type { RuleSet } from '../rules/ruleset.js';
import type { Rule } from '../rules/types.js';
import type { Finding } from '../model/finding.js';

/** The findings that stand: a finding is dropped when a finding its rule yields to is on its path. */
export function applyPrecedence(findings: Finding[], rules: RuleSet): Finding[] {
  const rulesOnPath = new Map<string, Set<string>>();
  for (const f of findings) {
    const on = rulesOnPath.get(f.path);
    if (on) on.add(f.rule);
    else rulesOnPath.set(f.path, new Set([f.rule]));
  }
  return findings.filter((f) => {
    const yields = ruleOf(rules, f.rule)?.yields;
    if (!yields || yields.length === 0) return true;
    for (const other of rulesOnPath.get(f.path)!) {
      if (other !== f.rule && yields.some((s) => selects(s, other, rules))) return false;
    }
    return true;
  });
}

function selects(selector: string, ruleId: string, rules: RuleSet): boolean {
  if (selector.startsWith('match:')) return ruleOf(rules, ruleId)?.match.kind === selector.slice('match:'.length);
  if (selector.endsWith('*')) return ruleId.startsWith(selector.slice(0, -1));
  return ruleId === selector;
}

function ruleOf(rules: RuleSet, id: string): Rule | undefined {
  try {
    return rules.get(id);
  } catch {
    // A finding whose rule the set does not hold (a test's own) yields to nothing.
    return undefined;
  }
}
