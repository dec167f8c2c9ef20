/**
 * The layers import in one direction, as DEVELOPERS.md says ("Layers, one direction"):
 *  - mountfs/ (sources, volumes, filesystems, the VFS) imports nothing from src/ or cloud/;
 *  - cloud/ only acquires byte sources and cleans up: it may import mountfs/, never src/;
 *  - src/ knows nothing of where bytes come from: only the CLI (src/cli) and the fleet
 *    (src/fleet) import cloud/;
 *  - src/model, the shapes every layer shares, loads no code from outside itself: what
 *    it names from elsewhere it names with `import type` only (erased at build), and
 *    only the services a check is handed (the VFS and what mountfs reports, the rule
 *    set, the hash lists, the facts), never the engine, the checks or the reports.
 * Every import is read with the TypeScript parser: static, re-exports and import().
 */
import { describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { REPO } from './helpers/images.js';

interface Import {
  from: string;
  /** The imported module, relative to the repository ("mountfs/vfs.ts"), or the package name. */
  to: string;
  typeOnly: boolean;
}

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(rel)));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    const to = spec.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts') : spec;
    out.push({ from: file, to, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const typeOnly = !!clause && (clause.isTypeOnly || (!clause.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node.moduleSpecifier.text, node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      add(node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const files = [...(await sources('src')), ...(await sources('mountfs')), ...(await sources('cloud'))];
const imports: Import[] = [];
for (const f of files) imports.push(...importsOf(f, await readFile(path.join(REPO, f), 'utf8')));

const under = (dir: string) => (p: string) => p.startsWith(`${dir}/`);
const line = (i: Import) => `${i.from} → ${i.to}${i.typeOnly ? ' (type)' : ''}`;

/** What src/model may name, by type only: the services a check is handed, and what mountfs reports. */
const MODEL_TYPE_SOURCES = [under('mountfs'), (p: string) => ['src/facts/facts.ts', 'src/rules/ruleset.ts', 'src/hashes/hash-list.ts'].includes(p)];

describe('the layers import in one direction', () => {
  it('reads the imports it judges', () => {
    // A parser that found nothing would pass every rule below.
    expect(imports.filter((i) => i.from === 'src/engine/scan.ts' && i.to === 'mountfs/open-target.ts')).toHaveLength(1);
    expect(imports.filter((i) => i.from === 'src/model/check.ts' && i.typeOnly).length).toBeGreaterThan(0);
  });

  it('mountfs/ imports nothing from src/ or cloud/', () => {
    expect(imports.filter((i) => under('mountfs')(i.from) && (under('src')(i.to) || under('cloud')(i.to))).map(line)).toEqual([]);
  });

  it('cloud/ imports nothing from src/', () => {
    expect(imports.filter((i) => under('cloud')(i.from) && under('src')(i.to)).map(line)).toEqual([]);
  });

  it('src/ imports cloud/ only from the CLI and the fleet', () => {
    const allowed = (f: string) => under('src/cli')(f) || under('src/fleet')(f);
    expect(imports.filter((i) => under('src')(i.from) && !allowed(i.from) && under('cloud')(i.to)).map(line)).toEqual([]);
  });

  it('src/model loads nothing from outside itself, and names by type only the services a check is handed', () => {
    const outside = imports.filter((i) => under('src/model')(i.from) && !under('src/model')(i.to) && !i.to.startsWith('node:'));
    expect(outside.filter((i) => !i.typeOnly).map(line)).toEqual([]);
    expect(outside.filter((i) => !MODEL_TYPE_SOURCES.some((ok) => ok(i.to))).map(line)).toEqual([]);
  });
});
