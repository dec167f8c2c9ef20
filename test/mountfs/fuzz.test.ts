/**
 * Fuzzing the parsers that read attacker-controlled bytes (the short form CI runs; the
 * long one is `npm run fuzz`, bench/fuzz.mjs, over the same targets): real images with
 * a few metadata bytes changed, opened through the whole recognition chain and walked
 * the way a scan does. Each input must end, within a time bound, either cleanly or
 * with a typed MountfsError: never another exception or a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { mkdir, readdir } from 'node:fs/promises';
import { FUZZ_TARGETS } from '../helpers/fuzz-targets.js';
import { fuzz, MutatedImage, runOne, type FuzzTarget } from '../helpers/fuzz-harness.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const RUNS = Number(process.env.MINESCAN_FUZZ_RUNS ?? 40);
const SEED = Number(process.env.MINESCAN_FUZZ_SEED ?? Date.now() % 1_000_000);

describe(`fuzzing the parsers (seed ${SEED})`, () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir();
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it.each(FUZZ_TARGETS.map((t) => [t.name, t] as const))('%s', async (name, target) => {
    const dir = path.join(scratch, name);
    await mkdir(dir, { recursive: true });
    const base = await target.build(dir);
    const fdsBefore = (await readdir('/proc/self/fd')).length;
    const summary = await fuzz(target, base, dir, { runs: RUNS, seed: SEED, timeoutMs: 10_000 });
    expect(summary.crashes).toEqual([]);
    expect(summary.hangs).toEqual([]);
    expect(summary.runs).toBe(RUNS);
    // Every input's files are closed, whatever it ended with (a damaged zip once kept its file open).
    expect((await readdir('/proc/self/fd')).length).toBeLessThanOrEqual(fdsBefore + 2);
    // The unmutated image opens cleanly: the target reaches the parser it is meant for.
    const clean = await runOne(target, new MutatedImage(base.bytes, [], base.bytes.length), dir, 10_000);
    expect(clean.kind).toBe('ok');
  });

  it('is not fooled into success', async () => {
    // The harness itself must be able to fail: an untyped error is a crash, a stall a hang.
    const base = { bytes: Buffer.alloc(512), regions: [[0, 512]] as Array<[number, number]> };
    const crashing: FuzzTarget = { name: 'crash', build: async () => base, open: async () => Promise.reject(new TypeError('boom')) };
    const stalling: FuzzTarget = { name: 'stall', build: async () => base, open: () => new Promise(() => undefined) };
    const crashed = await fuzz(crashing, base, scratch, { runs: 2, seed: 1, timeoutMs: 1000 });
    expect(crashed.crashes.map((c) => c.index)).toEqual([0, 1]);
    const stalled = await fuzz(stalling, base, scratch, { runs: 1, seed: 1, timeoutMs: 20 });
    expect(stalled.hangs).toEqual([0]);
  });
});
