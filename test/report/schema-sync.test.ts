/**
 * The published JSON Schemas (schema/*.schema.json) are what `npm run schema` makes of
 * the report's and the fleet summary's TypeScript types: a field added to a type, or
 * removed, or made optional, fails here until the schema is written again, so the
 * schema and the code never drift apart.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
// @ts-expect-error: a plain ES module of the build tooling, without types
import { SCHEMAS, schemaText } from '../../schema/generate.mjs';
import { REPO } from '../helpers/images.js';

interface SchemaEntry {
  file: string;
  type: string;
}

describe('published JSON Schemas', () => {
  it.each((SCHEMAS as SchemaEntry[]).map((s) => [s.file, s]))('%s is generated from the current types (npm run schema)', async (_file, entry) => {
    const committed = await readFile(path.join(REPO, entry.file), 'utf8');
    expect(committed).toBe(schemaText(entry));
  });

  it('closes every object of the report: an unknown field is refused anywhere', async () => {
    const schema = JSON.parse(await readFile(path.join(REPO, 'schema/report.schema.json'), 'utf8'));
    const open: string[] = [];
    const walk = (node: unknown, where: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}/${i}`));
      if (node === null || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if (o.type === 'object' && o.additionalProperties !== false) open.push(where);
      for (const [k, v] of Object.entries(o)) walk(v, `${where}/${k}`);
    };
    walk(schema, '#');
    expect(open).toEqual([]);
  });
});
