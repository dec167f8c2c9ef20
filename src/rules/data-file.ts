/**
 * The data files that ship beside the rule packs but are not rules (pool domains and
 * wallet formats, blocklist templates). Each is one top-level mapping read strictly: a
 * malformed entry is a packaging bug and fails loudly with the file name, never data
 * that silently matches nothing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { builtinRuleDirs } from './loader.js';

/** A data file of the built-in rule directory, read and parsed on first use, then kept. */
export function builtinDataFile<T>(file: string, parseText: (text: string, file: string) => T): () => T {
  let cached: T | undefined;
  return () => (cached ??= parseText(readFileSync(path.join(builtinRuleDirs()[0]!, file), 'utf8'), file));
}

export interface DataSection {
  /** The mapping under the file's top-level key. */
  section: Record<string, unknown>;
  /** Throws `msg` prefixed with the file name. */
  bad: (msg: string) => never;
}

/** The mapping under `key`, the only top-level key a data file has. */
export function parseDataSection(text: string, file: string, key: string): DataSection {
  const bad = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const top = parse(text) as Record<string, unknown> | null;
  const section = top?.[key] as Record<string, unknown> | undefined;
  if (typeof section !== 'object' || section === null) return bad(`"${key}" must be a mapping`);
  return { section, bad };
}
