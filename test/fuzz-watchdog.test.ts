/**
 * The long fuzzing run's watchdog names the input that hung or crashed, and no other:
 * a worker (the real InputMarker, compiled as the long run compiles it) runs inputs
 * that end, one that burns CPU just under the bound, one that loops synchronously right
 * after a flood of IPC messages, one that does not end asynchronously and one that
 * kills its process; watchWorker must blame each on its own index and resume after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { watchWorker } from './helpers/fuzz-watchdog.js';

const WORKER = `
import { InputMarker, HANG_EXIT } from './fuzz-watchdog.mjs';
const [dir, start, plan] = [process.argv[2], Number(process.argv[3]), JSON.parse(process.argv[4])];
const marker = new InputMarker(dir);
const spin = (s) => { const t = process.cpuUsage(); while ((process.cpuUsage(t).user + process.cpuUsage(t).system) / 1e6 < s); };
for (let i = start; i < 12; i++) {
  marker.start(i);
  // Messages a starved parent has not read yet: once the way it learned which input ran.
  for (let k = 0; k < 2000; k++) process.send?.({ type: 'input', index: i + 1, padding: 'x'.repeat(200) });
  const what = plan[i];
  if (what === 'slow') spin(0.5);
  if (what === 'loop') for (;;);
  if (what === 'die') process.abort();
  if (what === 'async') { setInterval(() => spin(0.05), 0); marker.end('hang', 'no end within the bound'); process.exit(HANG_EXIT); }
  marker.end(i % 2 ? 'ok' : 'typed');
}
marker.finish();
process.exit(0);
`;

describe('the fuzzing watchdog', () => {
  let dir: string;
  let worker: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'minescan-watchdog-'));
    const source = await readFile(path.join(import.meta.dirname, 'helpers/fuzz-watchdog.ts'), 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    await writeFile(path.join(dir, 'fuzz-watchdog.mjs'), js);
    worker = path.join(dir, 'worker.mjs');
    await writeFile(worker, WORKER);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const plan = { 4: 'slow', 5: 'loop', 7: 'async', 9: 'die' };
  const run = (start: number) => watchWorker({ worker, args: [dir, String(start), JSON.stringify(plan)], dir, cpuMs: 1000, stallMs: 300_000 });

  it('blames a synchronous loop on its own input, not on the slow one before it, and resumes after it', async () => {
    const r = await run(0);
    expect(r.failures).toEqual([{ index: 5, kind: 'hang', error: expect.stringMatching(/over 1000 ms of CPU/) }]);
    expect(r.ok + r.typed).toBe(5);
    expect(r.resumeAt).toBe(6);
  });

  it('an input that does not end asynchronously stops its worker, which resumes after it', async () => {
    const r = await run(6);
    expect(r.failures).toEqual([{ index: 7, kind: 'hang', error: 'no end within the bound' }]);
    expect(r.ok + r.typed).toBe(1);
    expect(r.resumeAt).toBe(8);
  });

  it('a dead process is a crash of the input it was in', async () => {
    const r = await run(8);
    expect(r.failures).toEqual([{ index: 9, kind: 'crash', error: expect.stringMatching(/process died \(SIGABRT\)/) }]);
    expect(r.resumeAt).toBe(10);
  });

  it('a worker that ends all its inputs has no failures and nothing to resume', async () => {
    const r = await run(10);
    expect(r).toEqual({ ok: 1, typed: 1, failures: [] });
  });
});
