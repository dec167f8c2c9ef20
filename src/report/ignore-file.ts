/**
 * The --ignore file: findings an operator has looked at and accepted, so that a known
 * deploy key or a vendor binary stops failing the audit while it stays in the report.
 *
 *   ignore:
 *     - rule: ssh.authorized-key           # a rule id, or a glob of them (ssh.*)
 *       path: /home/deploy/.ssh/authorized_keys   # a glob of paths inside the scanned root
 *       target: /mnt/evidence              # optional: only for this target (a glob)
 *       instance: i-0123456789abcdef0      # optional: only for this fleet instance (a glob)
 *       reason: CI deploy key, reviewed by J. Doe in INC-4711   # mandatory
 *       expires: 2026-06-30                # optional: suppresses up to and including that day (UTC)
 *
 * A malformed file is an IgnoreFileError naming the file and the line.
 */
import { promises as fsp } from 'node:fs';
import picomatch from 'picomatch';
import { LineCounter, isMap, isSeq, parseDocument, type Node as YamlNode } from 'yaml';

export interface IgnoreEntry {
  rule: string;
  path: string;
  target?: string;
  instance?: string;
  reason: string;
  /** YYYY-MM-DD. */
  expires?: string;
  /** "FILE:LINE" of the entry. */
  entry: string;
  matchRule: (rule: string) => boolean;
  matchPath: (path: string) => boolean;
  matchTarget: (target: string) => boolean;
  matchInstance: (instance: string) => boolean;
}

export interface IgnoreList {
  file: string;
  entries: IgnoreEntry[];
}

export class IgnoreFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'IgnoreFileError';
  }
}

const FIELDS = new Set(['rule', 'path', 'target', 'instance', 'reason', 'expires']);

export async function loadIgnoreFile(file: string): Promise<IgnoreList> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new IgnoreFileError(file, undefined, `cannot be read: ${(err as Error).message}`);
  }
  return parseIgnoreFile(text, file);
}

export function parseIgnoreFile(text: string, file: string): IgnoreList {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (node: YamlNode | null | undefined): number | undefined => (node?.range ? lines.linePos(node.range[0]).line : undefined);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new IgnoreFileError(file, e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line, e.message.split('\n')[0] ?? 'not valid YAML');
  }
  const top = doc.contents;
  if (!isMap(top)) throw new IgnoreFileError(file, 1, 'an ignore file is a mapping with "ignore:", a list of entries');
  for (const pair of top.items) {
    const key = String((pair.key as { value?: unknown })?.value ?? pair.key);
    if (key !== 'ignore') throw new IgnoreFileError(file, lineOf(pair.key as YamlNode), `unknown field "${key}" (only "ignore" is allowed)`);
  }
  const list = top.get('ignore', true) as YamlNode | undefined;
  if (list === undefined || (list as { value?: unknown }).value === null) return { file, entries: [] };
  if (!isSeq(list)) throw new IgnoreFileError(file, lineOf(list), '"ignore" must be a list of entries');
  const entries = list.items.map((item) => parseEntry(item as YamlNode, file, lineOf));
  return { file, entries };
}

function parseEntry(item: YamlNode, file: string, lineOf: (n: YamlNode | null | undefined) => number | undefined): IgnoreEntry {
  const line = lineOf(item);
  const fail = (msg: string, key?: string): never => {
    const at = key && isMap(item) ? (item.get(key, true) as YamlNode | undefined) : undefined;
    throw new IgnoreFileError(file, lineOf(at) ?? line, msg);
  };
  if (!isMap(item)) return fail('an entry is a mapping with rule, path and reason');
  const e = (item as { toJSON(): unknown }).toJSON() as Record<string, unknown>;
  for (const k of Object.keys(e)) if (!FIELDS.has(k)) fail(`unknown field "${k}" (rule, path, target, instance, reason, expires)`, k);
  const text = (k: string, required: boolean): string | undefined => {
    const v = e[k];
    if (v === undefined || v === null) return required ? fail(`"${k}" is missing`) : undefined;
    if (typeof v !== 'string' || v.trim() === '') return fail(`"${k}" must be a non-empty string`, k);
    return v.trim();
  };
  const rule = text('rule', true)!;
  const path = text('path', true)!;
  const reason = text('reason', true)!;
  const target = text('target', false);
  const instance = text('instance', false);
  const expiresValue = e.expires;
  // YAML reads an unquoted 2026-06-30 as a date only in some schemas: both spellings are taken.
  const expires = expiresValue instanceof Date ? expiresValue.toISOString().slice(0, 10) : text('expires', false);
  if (expires !== undefined && !validDate(expires)) fail(`"expires" must be a date, YYYY-MM-DD, not "${expires}"`, 'expires');
  if (!path.startsWith('/') && !path.startsWith('*')) fail(`"path" is a path inside the scanned root, starting with / (or a glob starting with *), not "${path}"`, 'path');
  const glob = (pattern: string) => picomatch(pattern, { dot: true });
  return {
    rule,
    path,
    reason,
    ...(target !== undefined ? { target } : {}),
    ...(instance !== undefined ? { instance } : {}),
    ...(expires !== undefined ? { expires } : {}),
    entry: `${file}:${line ?? 1}`,
    matchRule: glob(rule),
    matchPath: glob(path),
    matchTarget: target === undefined ? () => true : glob(target),
    matchInstance: instance === undefined ? () => true : glob(instance),
  };
}

function validDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

/** Whether the entry has expired at `now`: it suppresses up to the end of its expiry day, UTC. */
export function isExpired(entry: IgnoreEntry, now: Date): boolean {
  return entry.expires !== undefined && now.toISOString().slice(0, 10) > entry.expires;
}
