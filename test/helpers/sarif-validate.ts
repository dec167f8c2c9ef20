/**
 * The two independent judges of minescan's SARIF: Microsoft's SARIF Multitool
 * (`npx sarif-multitool validate`, the npm package @microsoft/sarif-multitool), whose
 * findings come back as a SARIF log of their own, and the OASIS SARIF 2.1.0 JSON schema
 * as that package ships it, checked with ajv.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { REPO } from './images.js';

const run = promisify(execFile);

export interface MultitoolFinding {
  rule: string;
  level: string;
  message: string;
  where: string;
}

/** Every file named ending in .sarif under dir, validated in one Multitool run; what it reports, by level. */
export async function multitoolValidate(dir: string, outFile: string): Promise<MultitoolFinding[]> {
  // The package's bin goes through a shell: the level list is quoted for it.
  await run('npx', ['sarif-multitool', 'validate', path.join(dir, '*.sarif'), '--output', outFile, '--log', 'ForceOverwrite', '--level', '"Error;Warning;Note"'], { cwd: REPO, maxBuffer: 256 << 20 }).catch((err: { code?: number; stdout?: string }) => {
    // It exits 1 when it reports an error; the log says which, and the test shows them.
    if (err.code !== 1) throw err;
  });
  const log = JSON.parse(await readFile(outFile, 'utf8'));
  const out: MultitoolFinding[] = [];
  for (const r of log.runs) {
    for (const n of r.invocations?.flatMap((i: { toolExecutionNotifications?: unknown[] }) => i.toolExecutionNotifications ?? []) ?? []) {
      const note = n as { level?: string; message: { text?: string } };
      if (note.level === 'error') out.push({ rule: 'tool', level: 'error', message: note.message.text ?? '', where: '' });
    }
    for (const x of r.results ?? []) {
      out.push({
        rule: x.ruleId,
        level: x.level ?? 'warning',
        message: [x.message.id, ...(x.message.arguments ?? [])].join(' '),
        where: x.locations?.[0]?.physicalLocation?.artifactLocation?.uri ?? '',
      });
    }
  }
  return out;
}

/** The SARIF 2.1.0 JSON schema (draft 2020-12) as @microsoft/sarif-multitool ships it. */
export async function sarifSchemaValidator(): Promise<ValidateFunction> {
  const file = createRequire(import.meta.url).resolve('@microsoft/sarif-multitool-linux/sarif-2.1.0.json');
  const schema = JSON.parse(await readFile(file, 'utf8'));
  // Formats (uri, date-time) are the Multitool's part; the schema checks structure and closed objects.
  return new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
}
