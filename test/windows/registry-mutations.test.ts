/**
 * Damaged hives end in a result or a typed error, never a crash or a hang: real hives
 * (nt-hive's testhive, with big data, 512 subkeys and Unicode names; plaso's
 * 100-subkey hive) with bytes of their hive bins overwritten at random (a fixed seed,
 * so a failure replays), each read whole (every key, value and value's data) within
 * bounded work, counted in range reads.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { MountfsError } from '../../mountfs/errors.js';
import { Hive } from '../../src/facts/windows/registry/hive.js';
import { baseBlockChecksum } from '../../src/facts/windows/registry/base-block.js';
import { BinaryView } from '../../mountfs/binary.js';
import { HAVE_SAMPLES, sampleFile } from './registry-samples.js';
import os from 'node:os';

const RUNS = Number(process.env.MINESCAN_FUZZ_RUNS ?? 150);

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Reads everything the hive holds; returns the reads it took. */
async function readAll(buf: Buffer): Promise<number> {
  let reads = 0;
  const hive = await Hive.open(
    async (offset, length) => {
      reads++;
      return buf.subarray(offset, offset + length);
    },
    buf.length,
    'mutated',
  );
  for await (const key of hive.walk(undefined, { maxKeys: 100_000 })) {
    for (const v of await hive.values(key)) await hive.decoded(v);
    await hive.security(key);
  }
  return reads;
}

describe.skipIf(!HAVE_SAMPLES)('registry reader on damaged hives', () => {
  it.each(['nt-hive/testhive', 'plaso/100_sub_keys.hiv'])('ends every mutation of %s in a result or a typed error', async (rel) => {
    const original = await readFile(await sampleFile(rel, os.tmpdir()));
    const random = prng(0x5eed + rel.length);
    const outcomes = { read: 0, typed: 0 };
    for (let run = 0; run < RUNS; run++) {
      const buf = Buffer.from(original);
      const flips = 1 + Math.floor(random() * 8);
      for (let i = 0; i < flips; i++) {
        const at = 4096 + Math.floor(random() * (buf.length - 4096));
        // Offsets and counts are the interesting bytes: write small integers, all-ones and random bytes.
        const kind = random();
        if (kind < 0.3) buf.writeUInt32LE(Math.floor(random() * 0x20000) & ~7, at & ~3);
        else if (kind < 0.45) buf.writeUInt32LE(0xffffffff, at & ~3);
        else buf[at] = Math.floor(random() * 256);
      }
      // A mutated base block would stop at the checksum: keep it valid so the cells are reached.
      buf.writeUInt32LE(baseBlockChecksum(new BinaryView(buf.subarray(0, 4096), 'base block')), 508);
      try {
        const reads = await readAll(buf);
        // 16 KiB pages: a hive is read at most a few times over, whatever its damage.
        expect(reads).toBeLessThan(20 * Math.ceil(buf.length / 16384) + 100);
        outcomes.read++;
      } catch (err) {
        if (!(err instanceof MountfsError)) throw new Error(`run ${run}: ${String(err)}`);
        expect(err.structure).toMatch(/^registry /);
        outcomes.typed++;
      }
    }
    expect(outcomes.read + outcomes.typed).toBe(RUNS);
    expect(outcomes.typed).toBeGreaterThan(0);
  });
});
