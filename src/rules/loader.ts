/**
 * Reads rule packs from YAML (or JSON) and validates them strictly: a typo in a rule must fail
 * loudly with its file and line, never become a rule that silently matches nothing.
 *
 * A pack:
 *   family: {id, name, description, references}   # optional; its rules get family: id
 *   fragments: {name: regex, ...}                  # optional; (?&name) in this pack's regexes
 *   scope-groups: {name: [scope or group, ...]}     # optional; names for content.scopes (scope-groups.ts)
 *   rules:
 *     - id, category, severity, message, remediation, references?, family?, yields?, malware-specific?
 *       match: {content: {scopes, regex, flags?, paths?, all?}}  # all: regexes the same text must also match, each
 *            | {path: {globs, contains?, flags?, type?}}
 *            | {name: {scope, values? , regex?, flags?}}
 *            (absent: fired by a check's logic)
 *   flags: i, m, s, u, and l for the linear-time engine, RE2 (linear-regex.ts)
 */
import { compileRuleRegex, ruleFlags } from './linear-regex.js';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { expandScopes, parseScopeGroups, type ScopeGroups } from './scope-groups.js';
import { isSeverity } from '../model/finding.js';
import { packageRoot } from '../package-root.js';
import {
  NAME_SCOPES,
  RuleError,
  type Family,
  type Matcher,
  type NameScope,
  type Rule,
} from './types.js';

export interface RulePack {
  family?: Family;
  rules: Rule[];
}

/** The directories of the rules that ship with minescan. */
export function builtinRuleDirs(): string[] {
  const root = packageRoot();
  return [path.join(root, 'src/rules/builtin'), path.join(root, 'src/rules/families')];
}

/** Packs are YAML or JSON (JSON is YAML too: one parser, the same line numbers in errors). */
export async function loadRuleDir(dir: string): Promise<RulePack[]> {
  const names = (await fsp.readdir(dir)).filter((n) => /\.(?:ya?ml|json)$/.test(n)).sort();
  const packs: RulePack[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    packs.push(parseRulePack(await fsp.readFile(file, 'utf8'), file));
  }
  return packs;
}

export function parseRulePack(text: string, file: string): RulePack {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (node: YamlNode | null | undefined): number | undefined =>
    node?.range ? lines.linePos(node.range[0]).line : undefined;
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new RuleError(file, e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line, e.message.split('\n')[0] ?? 'YAML error');
  }
  const top = doc.contents;
  if (!isMap(top)) throw new RuleError(file, 1, 'a rule pack is a mapping with "rules:" (and optionally "family:")');
  const fail = (node: YamlNode | null | undefined, msg: string): never => {
    throw new RuleError(file, lineOf(node), msg);
  };

  let family: Family | undefined;
  const famNode = top.get('family', true) as YamlNode | undefined;
  if (famNode !== undefined) {
    const f = (famNode as { toJSON(): unknown }).toJSON() as Record<string, unknown>;
    if (typeof f !== 'object' || f === null) fail(famNode, 'family must be a mapping');
    for (const k of ['id', 'name', 'description']) {
      if (typeof f[k] !== 'string' || !f[k]) fail(famNode, `family.${k} must be a non-empty string`);
    }
    family = {
      id: f.id as string,
      name: f.name as string,
      description: f.description as string,
      references: stringList(f.references, () => fail(famNode, 'family.references must be a list of strings')),
      origin: `${file}:${lineOf(famNode) ?? 1}`,
    };
  }

  const fragments = parseFragments(top.get('fragments', true) as YamlNode | undefined, fail);
  const scopeGroups = parseScopeGroups(top.get('scope-groups', true) as YamlNode | undefined, fail);
  const rulesNode = top.get('rules', true) as YamlNode | undefined;
  if (!isSeq(rulesNode)) fail(rulesNode ?? top, '"rules" must be a list');
  const rules: Rule[] = [];
  for (const item of (rulesNode as { items: YamlNode[] }).items) {
    const r = (item as { toJSON(): unknown }).toJSON() as Record<string, unknown>;
    // Point at the offending field's line when there is one, else at the rule.
    const fieldNode = (key: string): YamlNode | undefined =>
      isMap(item) ? ((item.getIn(key.split('.'), true) as YamlNode | undefined) ?? undefined) : undefined;
    const bad = (msg: string, key?: string): never =>
      fail((key && fieldNode(key)) || item, `rule ${typeof r?.id === 'string' ? r.id : '#' + (rules.length + 1)}: ${msg}`);
    if (typeof r !== 'object' || r === null) bad('must be a mapping');
    const known = new Set(['id', 'category', 'severity', 'message', 'remediation', 'references', 'family', 'match', 'yields', 'malware-specific']);
    for (const k of Object.keys(r)) if (!known.has(k)) bad(`unknown field "${k}"`, k);
    for (const k of ['id', 'category', 'severity', 'message', 'remediation']) {
      if (typeof r[k] !== 'string' || !(r[k] as string).trim()) bad(`"${k}" must be a non-empty string`, k);
    }
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(r.id as string)) bad('id must be lower-case letters, digits, ".", "_" or "-"', 'id');
    if (!isSeverity(r.severity as string)) bad(`severity must be critical, high, medium, low or info`, 'severity');
    if (r.family !== undefined && typeof r.family !== 'string') bad('family must be a string', 'family');
    if (r['malware-specific'] !== undefined && typeof r['malware-specific'] !== 'boolean') bad('malware-specific must be true or false', 'malware-specific');
    rules.push({
      id: r.id as string,
      category: r.category as string,
      severity: r.severity as Rule['severity'],
      message: (r.message as string).trim(),
      remediation: (r.remediation as string).trim(),
      references: stringList(r.references, () => bad('references must be a list of strings')),
      family: (r.family as string | undefined) ?? family?.id,
      ...(r['malware-specific'] === true ? { malwareSpecific: true } : {}),
      ...(r.yields !== undefined ? { yields: yieldsList(r.yields, () => bad('yields must be a list of rule ids, "prefix.*" or "match:path"', 'yields')) } : {}),
      match: parseMatcher(r.match, fragments, scopeGroups, (msg, field) => bad(msg, field ? `match.${field}` : 'match')),
      origin: `${file}:${lineOf(item) ?? 1}`,
    });
  }
  return { family, rules };
}

/**
 * Regex pieces several rules of a pack share (a list of persistence files, say), so a
 * change is made once. JavaScript has no (?&name) syntax, so the reference cannot clash
 * with a real regex; a fragment is inserted as a non-capturing group and may not refer
 * to another.
 */
function parseFragments(node: YamlNode | undefined, fail: (node: YamlNode | null | undefined, msg: string) => never): Map<string, string> {
  const out = new Map<string, string>();
  if (node === undefined) return out;
  if (!isMap(node)) return fail(node, '"fragments" must be a mapping of names to regular expressions');
  for (const pair of node.items) {
    const name = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    const value = (pair.value as { value?: unknown } | null)?.value;
    const at = (pair.value ?? pair.key) as YamlNode;
    if (!FRAGMENT_NAME.test(name)) fail(at, `fragment name "${name}" must be lower-case letters, digits and "-"`);
    if (typeof value !== 'string' || value === '') fail(at, `fragment ${name} must be a regular expression string`);
    if (FRAGMENT_REF.test(value as string)) fail(at, `fragment ${name} may not refer to another fragment`);
    try {
      new RegExp(value as string);
    } catch (err) {
      fail(at, `fragment ${name}: ${(err as Error).message}`);
    }
    out.set(name, value as string);
  }
  return out;
}

const FRAGMENT_NAME = /^[a-z][a-z0-9-]*$/;
const FRAGMENT_REF = /\(\?&([a-z][a-z0-9-]*)\)/;

/** Selectors of the findings a rule's finding yields to on the same path (src/engine/precedence.ts). */
function yieldsList(v: unknown, bad: () => never): string[] {
  const list = stringList(v, bad);
  for (const s of list) if (!/^(?:[a-z0-9][a-z0-9._-]*\*?|match:(?:path|name|content))$/.test(s)) bad();
  return list;
}

function parseMatcher(
  m: unknown,
  fragments: ReadonlyMap<string, string>,
  scopeGroups: ScopeGroups,
  bad: (msg: string, field?: string) => never): Matcher {
  if (m === undefined || m === null) return { kind: 'logic' };
  if (typeof m !== 'object' || Object.keys(m).length !== 1) bad('match must have exactly one of content, path, name');
  const [kind, spec] = Object.entries(m as Record<string, unknown>)[0]!;
  const s = spec as Record<string, unknown>;
  if (typeof s !== 'object' || s === null) bad(`match.${kind} must be a mapping`);
  const allow = (keys: string[]) => {
    for (const k of Object.keys(s)) if (!keys.includes(k)) bad(`unknown field match.${kind}.${k}`, `${kind}.${k}`);
  };
  const regex = (field: string, required: boolean): RegExp | undefined => {
    const src = s[field];
    if (src === undefined && !required) return undefined;
    if (typeof src !== 'string' || src === '') bad(`match.${kind}.${field} must be a regular expression string`, `${kind}.${field}`);
    const flags = s.flags === undefined ? '' : String(s.flags);
    if (!/^[imsul]*$/.test(flags)) bad(`match.${kind}.flags may only hold i, m, s, u and l (the linear-time engine)`);
    try {
      return compileRuleRegex(expandFragments(src as string, fragments, (msg) => bad(`match.${kind}.${field}: ${msg}`, `${kind}.${field}`)), flags);
    } catch (err) {
      return bad(`match.${kind}.${field}: ${(err as Error).message}`, `${kind}.${field}`);
    }
  };
  switch (kind) {
    case 'content': {
      allow(['scopes', 'regex', 'flags', 'paths', 'all']);
      const names = stringList(s.scopes, () => bad('match.content.scopes must be a list'));
      if (names.length === 0) bad('match.content.scopes must not be empty');
      const scopes = expandScopes(names, scopeGroups, (msg) => bad(msg, 'content.scopes'));
      const paths = s.paths === undefined ? undefined : stringList(s.paths, () => bad('match.content.paths must be a list of globs'));
      const re = regex('regex', true)!;
      const all = s.all === undefined ? undefined : stringList(s.all, () => bad('match.content.all must be a list of regular expressions', 'content.all')).map((src, i) => {
        try {
          if (src === '') throw new Error('empty');
          return compileRuleRegex(expandFragments(src, fragments, (msg) => bad(`match.content.all[${i}]: ${msg}`, 'content.all')), ruleFlags(re));
        } catch (err) {
          return bad(`match.content.all[${i}]: ${(err as Error).message}`, 'content.all');
        }
      });
      return { kind: 'content', scopes, regex: re, paths, ...(all ? { all } : {}) };
    }
    case 'path': {
      allow(['globs', 'contains', 'flags', 'type']);
      const globs = stringList(s.globs, () => bad('match.path.globs must be a list of globs'));
      if (globs.length === 0 || globs.some((g) => !g.startsWith('/'))) bad('match.path.globs must be absolute globs');
      const type = s.type === undefined ? 'any' : s.type;
      if (type !== 'file' && type !== 'directory' && type !== 'any') bad('match.path.type must be file, directory or any');
      return { kind: 'path', globs, contains: regex('contains', false), type: type as 'file' | 'directory' | 'any' };
    }
    case 'name': {
      allow(['scope', 'values', 'regex', 'flags']);
      if (!(NAME_SCOPES as readonly string[]).includes(s.scope as string)) bad(`match.name.scope must be one of ${NAME_SCOPES.join(', ')}`);
      const values = s.values === undefined ? undefined : stringList(s.values, () => bad('match.name.values must be a list of strings'));
      const re = regex('regex', false);
      if (!values && !re) bad('match.name needs values or regex');
      return { kind: 'name', scope: s.scope as NameScope, values, regex: re };
    }
    default:
      return bad(`unknown matcher "${kind}" (content, path or name)`);
  }
}

function expandFragments(src: string, fragments: ReadonlyMap<string, string>, bad: (msg: string) => never): string {
  return src.replace(new RegExp(FRAGMENT_REF.source, 'g'), (_, name: string) => {
    const body = fragments.get(name);
    return body === undefined ? bad(`unknown fragment (?&${name}); this pack defines ${[...fragments.keys()].join(', ') || 'none'}`) : `(?:${body})`;
  });
}

function stringList(v: unknown, bad: () => never): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) bad();
  return v as string[];
}
