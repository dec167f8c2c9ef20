#!/usr/bin/env node
/**
 * Writes the published JSON Schemas of minescan's machine-readable outputs from the
 * TypeScript types that produce them, so the schema cannot say something the code does
 * not: schema/report.schema.json from ScanReport (src/model/report.ts) and
 * schema/fleet-summary.schema.json from FleetSummary (src/fleet/summary.ts). Every
 * object is closed (additionalProperties: false) and every field the type does not
 * mark optional is required, so a validator refuses an unknown or a missing field.
 *
 * `npm run schema` rewrites both; test/report/schema.test.ts fails when a type has
 * changed and the files were not rewritten.
 */
import { createGenerator } from 'ts-json-schema-generator';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What each published file describes: the type, where it is declared, and the document's root. */
export const SCHEMAS = [
  {
    file: 'schema/report.schema.json',
    source: 'src/model/report.ts',
    type: 'ScanReport',
    title: 'minescan JSON report',
    // One target gives one report object, several give an array of them (src/report/json.ts).
    description: 'The JSON report of `minescan scan`: one object for one target, an array of them for several. A fleet writes one object per instance.',
    root: (ref) => ({ anyOf: [ref, { type: 'array', items: ref }] }),
  },
  {
    file: 'schema/fleet-summary.schema.json',
    source: 'src/fleet/summary.ts',
    type: 'FleetSummary',
    title: 'minescan fleet summary',
    description: 'summary.json, written by `minescan fleet` and `minescan merge` in their output directory.',
    root: (ref) => ref,
  },
];

/** The schema of one entry of SCHEMAS, as an object. */
export function generateSchema(entry) {
  const generated = createGenerator({
    path: path.join(REPO, entry.source),
    tsconfig: path.join(REPO, 'tsconfig.json'),
    type: entry.type,
    expose: 'export',
    topRef: true,
    jsDoc: 'extended',
    additionalProperties: false,
    // tsc checks the types; the generator only reads them.
    skipTypeCheck: true,
  }).createSchema(entry.type);
  closeRecords(generated);
  const ref = { $ref: `#/definitions/${entry.type}` };
  return {
    $schema: generated.$schema,
    title: entry.title,
    description: entry.description,
    ...entry.root(ref),
    definitions: generated.definitions,
  };
}

/**
 * A Record over a union of keys (Record<Severity, number>) comes out with every key
 * required but further keys allowed: closed like every other object, so an unknown
 * severity is refused too.
 */
function closeRecords(node) {
  if (Array.isArray(node)) return node.forEach(closeRecords);
  if (node === null || typeof node !== 'object') return;
  const keys = node.properties ? Object.keys(node.properties) : [];
  if (typeof node.additionalProperties === 'object' && keys.length > 0 && keys.every((k) => node.required?.includes(k))) node.additionalProperties = false;
  for (const value of Object.values(node)) closeRecords(value);
}

/** The file's text as `npm run schema` writes it. */
export function schemaText(entry) {
  return `${JSON.stringify(generateSchema(entry), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const entry of SCHEMAS) {
    await writeFile(path.join(REPO, entry.file), schemaText(entry));
    process.stdout.write(`wrote ${entry.file}\n`);
  }
}
