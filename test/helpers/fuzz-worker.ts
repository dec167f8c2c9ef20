/**
 * One target of the long fuzzing run, in its own process so that bench/fuzz.mjs can
 * kill it when an input hangs synchronously (a loop no timer can interrupt) or blows
 * its heap, and start it again after that input. Arguments: target, runs, seed, first
 * input, per-input time bound in ms, scratch directory. Tells the parent, over IPC,
 * which input it starts, how each ended, and when all are done.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { FUZZ_TARGETS } from './fuzz-targets.js';
import { fuzz, type FuzzBase } from './fuzz-harness.js';

const [name, runs, seed, start, timeoutMs, dir] = process.argv.slice(2);
const target = FUZZ_TARGETS.find((t) => t.name === name);
if (!target || !dir || !process.send) throw new Error(`usage (forked): fuzz-worker TARGET RUNS SEED START TIMEOUT_MS DIR; targets: ${FUZZ_TARGETS.map((t) => t.name).join(' ')}`);
const send = process.send.bind(process);

await mkdir(dir, { recursive: true });
// The base image is built once per target and kept, so a restart after a hang is cheap.
const cached = path.join(dir, 'base.bin');
let base: FuzzBase;
if (existsSync(cached)) {
  base = { bytes: await readFile(cached), regions: JSON.parse(await readFile(`${cached}.regions.json`, 'utf8')) };
} else {
  base = await target.build(dir);
  await writeFile(cached, base.bytes);
  await writeFile(`${cached}.regions.json`, JSON.stringify(base.regions));
}
const summary = await fuzz(target, base, dir, {
  runs: Number(runs),
  seed: Number(seed),
  start: Number(start),
  timeoutMs: Number(timeoutMs),
  // The CPU time this process has used when the input starts, for the parent's per-input CPU bound.
  onInput: (index) => {
    const cpu = process.cpuUsage();
    send({ type: 'input', index, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  },
  onOutcome: (index, kind, error) => send({ type: 'outcome', index, kind, error }),
});
send({ type: 'done', runs: summary.runs }, () => process.exit(0));
