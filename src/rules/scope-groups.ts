/**
 * Named lists of content scopes a pack defines once (`scope-groups:`) and its rules name
 * in `scopes:`, so that the places a family of rules reads are written in one line: a
 * new persistence place joins every command-line rule by one edit of one group. A
 * group lists scopes and groups defined above it (so there is no cycle to detect), and
 * its name may not be a scope's. Like regex fragments, groups belong to their pack.
 */
import { isMap, isSeq, type Node as YamlNode } from 'yaml';
import { CONTENT_SCOPES, type ContentScope } from './types.js';

export type ScopeGroups = ReadonlyMap<string, readonly ContentScope[]>;

type Fail = (node: YamlNode | null | undefined, msg: string) => never;

const GROUP_NAME = /^[a-z][a-z0-9-]*$/;

function isScope(name: string): name is ContentScope {
  return (CONTENT_SCOPES as readonly string[]).includes(name);
}

/** The pack's `scope-groups:` mapping, each group expanded to its scopes. */
export function parseScopeGroups(node: YamlNode | undefined, fail: Fail): ScopeGroups {
  const out = new Map<string, ContentScope[]>();
  if (node === undefined) return out;
  if (!isMap(node)) return fail(node, '"scope-groups" must be a mapping of names to lists of content scopes');
  for (const pair of node.items) {
    const name = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    const at = (pair.value ?? pair.key) as YamlNode;
    if (!GROUP_NAME.test(name)) fail(at, `scope group name "${name}" must be lower-case letters, digits and "-"`);
    if (isScope(name)) fail(at, `scope group "${name}" has the name of a content scope`);
    if (out.has(name)) fail(at, `scope group "${name}" is defined twice`);
    if (!isSeq(pair.value) || pair.value.items.length === 0) fail(at, `scope group ${name} must be a non-empty list of content scopes`);
    const scopes = new Set<ContentScope>();
    for (const item of (pair.value as { items: YamlNode[] }).items) {
      const member = (item as { value?: unknown }).value;
      if (typeof member !== 'string') return fail(item, `scope group ${name}: members are content scope or group names`);
      const expanded = isScope(member) ? [member] : out.get(member);
      if (!expanded) fail(item, `scope group ${name}: ${unknownScope(member, out)}`);
      for (const s of expanded!) scopes.add(s);
    }
    out.set(name, [...scopes]);
  }
  return out;
}

/** A rule's `scopes:` with the pack's groups expanded, each scope once, in order. */
export function expandScopes(names: readonly string[], groups: ScopeGroups, bad: (msg: string) => never): ContentScope[] {
  const scopes = new Set<ContentScope>();
  for (const name of names) {
    const expanded = isScope(name) ? [name] : groups.get(name);
    if (!expanded) bad(unknownScope(name, groups));
    for (const s of expanded!) scopes.add(s);
  }
  return [...scopes];
}

function unknownScope(name: string, groups: ScopeGroups): string {
  const defined = groups.size > 0 ? `; groups defined above: ${[...groups.keys()].join(', ')}` : '';
  return `unknown content scope "${name}" (known: ${CONTENT_SCOPES.join(', ')}${defined})`;
}
