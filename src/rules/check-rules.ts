/**
 * The rule ids checks name in their code (the rules they fire by their own logic, look
 * up or compare against), checked against the loaded packs before a scan reads
 * anything: a mistyped or removed id fails at load, naming the check, and never in the
 * middle of a scan that already read half a disk.
 */
import type { RuleSet } from './ruleset.js';

/** What this file needs of a check (src/engine/check.ts). */
export interface DeclaresRules {
  readonly id: string;
  readonly ruleIds?: readonly string[];
}

/** Throws, listing every check and id, when a check declares a rule no pack defines. */
export function assertDeclaredRules(checks: readonly DeclaresRules[], rules: RuleSet): void {
  const defined = new Set(rules.all().map((r) => r.id));
  const missing = checks.flatMap((c) => (c.ruleIds ?? []).filter((id) => !defined.has(id)).map((id) => `check ${c.id} fires rule "${id}"`));
  if (missing.length > 0) throw new Error(`${missing.join('; ')}, which no rule pack defines`);
}

/** The rule set a check is given: refuses ids it did not declare. */
export function rulesForCheck(check: DeclaresRules, rules: RuleSet): RuleSet {
  return rules.declaredTo(check.id, check.ruleIds ?? []);
}
