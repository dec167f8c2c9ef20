/**
 * One target of the long fuzzing run, in its own process so that bench/fuzz.mjs can
 * kill it when an input hangs synchronously (a loop no timer can interrupt) or blows
 * its heap, and start it again after that input. Arguments: target, runs, seed, first
 * input, per-input time bound in ms, scratch directory, and optionally a file to
 * replay as the only input. Tells the parent which input it runs and how each ended
 * through an InputMarker (fuzz-watchdog.ts), which a kill cannot leave behind.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { FUZZ_TARGETS } from './fuzz-targets.js';
import { fuzz, MutatedImage, runOne, describeError, type FuzzBase } from './fuzz-harness.js';
import { HANG_EXIT, InputMarker } from './fuzz-watchdog.js';

const [name, runs, seed, start, timeoutMs, dir, replay] = process.argv.slice(2);
const target = FUZZ_TARGETS.find((t) => t.name === name);
if (!target || !dir) throw new Error(`usage: fuzz-worker TARGET RUNS SEED START TIMEOUT_MS DIR [REPLAY_FILE]; targets: ${FUZZ_TARGETS.map((t) => t.name).join(' ')}`);

await mkdir(dir, { recursive: true });
const marker = new InputMarker(dir);
if (replay) {
  // A saved input, run alone, exactly as the run that found it ran it.
  const bytes = await readFile(replay);
  marker.start(0);
  const outcome = await runOne(target, new MutatedImage(bytes, [], bytes.length), dir, Number(timeoutMs));
  marker.end(outcome.kind, outcome.kind === 'crash' ? describeError(outcome.error) : outcome.kind === 'typed' ? outcome.error.message : '');
  if (outcome.kind === 'hang') process.exit(HANG_EXIT);
} else {
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
  await fuzz(target, base, dir, {
    runs: Number(runs),
    seed: Number(seed),
    start: Number(start),
    timeoutMs: Number(timeoutMs),
    onInput: (index) => marker.start(index),
    onOutcome: (_index, kind, error) => {
      marker.end(kind, error);
      // The input that did not end may still be running: nothing after it would be measured alone.
      if (kind === 'hang') process.exit(HANG_EXIT);
    },
  });
}
marker.finish();
process.exit(0);
