/**
 * The content matcher's `all:` list (src/rules/loader.ts, RuleSet.matchLines): a rule
 * that needs several strings together fires only when every one is in the text, and a
 * malformed list fails loudly with its file and line.
 */
import { describe, expect, it } from 'vitest';
import { parseRulePack } from '../../src/rules/loader.js';
import { RuleSet } from '../../src/rules/ruleset.js';
import { RuleError } from '../../src/rules/types.js';

const pack = (all: string) => `
rules:
  - id: test.xmrig-strings
    category: malware/miner
    severity: high
    message: "{path} holds XMRig strings"
    remediation: "rm -f {path:q}"
    match:
      content:
        scopes: [binary-strings]
        regex: 'XMRig/\\d'
        flags: i
        all:
${all}
`;

describe('content matcher all:', () => {
  const rules = new RuleSet([parseRulePack(pack(`          - 'donate\\.v2\\.xmrig\\.com'\n          - 'RANDOMX'`), 'all.yaml')]);

  it('fires on the regex line only when every all: regex matches somewhere in the text', () => {
    const text = 'libc.so.6\nxmrig/6.21.0\nrandomx\ndonate.v2.xmrig.com\n';
    const hits = rules.matchLines('binary-strings', '/tmp/x', text);
    expect(hits.map((h) => [h.rule.id, h.line, h.text])).toEqual([['test.xmrig-strings', 2, 'xmrig/6.21.0']]);
  });

  it('stays quiet when one of them is missing', () => {
    expect(rules.matchLines('binary-strings', '/tmp/x', 'XMRig/6.21.0\nrandomx\n')).toEqual([]);
    expect(rules.matchLines('binary-strings', '/tmp/x', 'randomx\ndonate.v2.xmrig.com\n')).toEqual([]);
  });

  it('uses the flags of the rule (i)', () => {
    expect(rules.all()[0]!.match).toMatchObject({ kind: 'content' });
    const m = rules.all()[0]!.match;
    if (m.kind !== 'content') throw new Error('content matcher expected');
    expect(m.all?.map((r) => r.flags)).toEqual(['i', 'i']);
  });

  it.each([
    ['a bad regex', `          - 'randomx(('`, /match\.content\.all\[0\]/],
    ['an empty regex', `          - ''`, /match\.content\.all\[0\]/],
    ['a mapping instead of a list', `          x: y`, /match\.content\.all must be a list/],
  ])('rejects %s naming the file and line', (_what, all, msg) => {
    let err: unknown;
    try {
      parseRulePack(pack(all), 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleError);
    expect((err as RuleError).file).toBe('bad.yaml');
    expect((err as RuleError).line).toBeGreaterThanOrEqual(11);
    expect((err as Error).message).toMatch(msg);
  });
});
