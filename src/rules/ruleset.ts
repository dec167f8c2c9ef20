/**
 * The loaded rules, indexed for the questions checks ask, and the one place a rule
 * becomes a Finding (so severity, message, family and remediation always come from
 * the data, filled with the check's variables).
 */
import { clipEvidence, type Finding } from '../model/finding.js';
import { compileGlob } from '../../mountfs/glob.js';
import { builtinRuleDirs, loadRuleDir, type RulePack } from './loader.js';
import { isLinear } from './linear-regex.js';
import { RuleError, type ContentScope, type Family, type NameScope, type Rule } from './types.js';

export interface LineHit {
  rule: Rule;
  /** 1-based line number within the text. */
  line: number;
  /** The whole line. */
  text: string;
  /** The part the regex matched. */
  match: string;
}

/** Variables a check passes to fill a rule's message and remediation. */
export type TemplateVars = Record<string, string | number | undefined>;

export interface FindingInput {
  path: string;
  line?: number;
  evidence: string;
  vars?: TemplateVars;
  /**
   * Where the check found it, e.g. "persistence/cron", when the rule is shared by
   * several persistence points (the command-line rules); the rule's category otherwise.
   */
  category?: string;
}

/**
 * A rule regex reads at most this many characters at once. A longer line is read in
 * windows of this size, each starting half a window after the one before, so every
 * match up to half a window long lies whole in some window: a command hidden in the
 * middle of a megabyte line is found, and a regex that backtracks pays for one
 * window at a time, never for the whole line.
 */
export const RULE_WINDOW = 8 * 1024;

/** The first match of the regex in the line: whole on the linear engine, else in RULE_WINDOW windows. */
export function execWindowed(regex: RegExp, line: string): RegExpExecArray | null {
  if (line.length <= RULE_WINDOW || isLinear(regex)) return regex.exec(line);
  const step = RULE_WINDOW / 2;
  for (let at = 0; ; at += step) {
    const m = regex.exec(line.slice(at, at + RULE_WINDOW));
    if (m || at + RULE_WINDOW >= line.length) return m;
  }
}

export class RuleSet {
  private byId = new Map<string, Rule>();
  private families = new Map<string, Family>();

  constructor(packs: RulePack[]) {
    for (const pack of packs) {
      if (pack.family) {
        const prior = this.families.get(pack.family.id);
        if (prior) throw new RuleError(pack.family.origin, undefined, `family "${pack.family.id}" is already defined at ${prior.origin}`);
        this.families.set(pack.family.id, pack.family);
      }
      for (const rule of pack.rules) {
        const prior = this.byId.get(rule.id);
        if (prior) throw new RuleError(rule.origin, undefined, `rule id "${rule.id}" is already defined at ${prior.origin}`);
        this.byId.set(rule.id, rule);
      }
    }
    for (const rule of this.byId.values()) {
      if (rule.family && !this.families.has(rule.family)) {
        throw new RuleError(rule.origin, undefined, `rule ${rule.id} names family "${rule.family}", which no pack defines`);
      }
    }
  }

  /** The built-in packs plus the user's --rules directories. */
  static async load(extraDirs: string[] = []): Promise<RuleSet> {
    const packs: RulePack[] = [];
    for (const dir of [...builtinRuleDirs(), ...extraDirs]) packs.push(...(await loadRuleDir(dir)));
    return new RuleSet(packs);
  }

  all(): Rule[] {
    return [...this.byId.values()];
  }

  allFamilies(): Family[] {
    return [...this.families.values()];
  }

  family(id: string): Family | undefined {
    return this.families.get(id);
  }

  /** A rule a check fires by its own logic. Throws when the data lacks it: a packaging bug, not an image problem. */
  get(id: string): Rule {
    const rule = this.byId.get(id);
    if (!rule) throw new Error(`rule "${id}" is not defined in any rule pack`);
    return rule;
  }

  /**
   * The rule set as one check sees it: `get` and `finding` by id refuse an id the check
   * did not declare (Check.ruleIds), so an undeclared id fails the check's tests rather
   * than slipping past the validation of declarations against the packs (check-rules.ts).
   * Rules found by matching are passed as Rule objects and are not restricted.
   */
  declaredTo(owner: string, ids: readonly string[]): RuleSet {
    const allowed = new Set(ids);
    const view = Object.create(this) as RuleSet;
    view.get = (id: string): Rule => {
      if (!allowed.has(id)) throw new Error(`check ${owner} names rule "${id}", which it does not declare in its ruleIds`);
      return this.get(id);
    };
    return view;
  }

  contentRules(scope: ContentScope, path?: string): Rule[] {
    return this.all().filter(
      (r) =>
        r.match.kind === 'content' &&
        r.match.scopes.includes(scope) &&
        (path === undefined || !r.match.paths || r.match.paths.some((g) => compileGlob(g).matches(path))),
    );
  }

  /** Every content rule of the scope that matches a line of the text. */
  matchLines(scope: ContentScope, path: string, text: string): LineHit[] {
    const rules = this.contentRules(scope, path).filter((r) => r.match.kind !== 'content' || !r.match.all || r.match.all.every((re) => re.test(text)));
    if (rules.length === 0) return [];
    const hits: LineHit[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      for (const rule of rules) {
        if (rule.match.kind !== 'content') continue;
        const m = execWindowed(rule.match.regex, line);
        if (m) hits.push({ rule, line: i + 1, text: line, match: m[0] });
      }
    });
    return hits;
  }

  /** Name rules of the scope that match the value. */
  matchName(scope: NameScope, value: string): Rule[] {
    return this.all().filter(
      (r) =>
        r.match.kind === 'name' &&
        r.match.scope === scope &&
        ((r.match.values?.includes(value) ?? false) || (r.match.regex?.test(value) ?? false)),
    );
  }

  pathRules(): Rule[] {
    return this.all().filter((r) => r.match.kind === 'path');
  }

  finding(rule: Rule | string, input: FindingInput): Finding {
    const r = typeof rule === 'string' ? this.get(rule) : rule;
    const vars: TemplateVars = {
      path: input.path,
      line: input.line,
      evidence: input.evidence,
      ...input.vars,
    };
    const finding: Finding = {
      rule: r.id,
      category: input.category ?? r.category,
      severity: r.severity,
      path: input.path,
      message: fill(r.message, vars),
      evidence: clipEvidence(input.evidence),
      remediation: fill(r.remediation, vars),
    };
    if (input.line !== undefined) finding.line = input.line;
    if (r.family) finding.family = r.family;
    return finding;
  }
}

/** Fills {name} placeholders; paths are inserted shell-quoted where the template says {path:q}. */
function fill(template: string, vars: TemplateVars): string {
  return template.replace(/\{([a-zA-Z][a-zA-Z0-9_]*)(:q)?\}/g, (whole, name: string, quote?: string) => {
    const v = vars[name];
    if (v === undefined) return whole;
    return quote ? shellQuote(String(v)) : String(v);
  });
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
