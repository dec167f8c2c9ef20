/**
 * The property every container reader must hold: any range it reads equals the same
 * range of the reference (the raw disk), with offsets biased toward the format's own
 * boundaries (clusters, grains, blocks), where off-by-one mistakes live.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';

export async function expectSameRanges(src: ByteSource, ref: ByteSource, offset: fc.Arbitrary<number>, length: fc.Arbitrary<number>, runs: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(offset, length, async (at, len) => {
      const [got, want] = await Promise.all([src.read(at, len), ref.read(at, len)]);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
    }),
    { numRuns: runs },
  );
}

/** Offsets anywhere in [0, size], or within `slack` of a multiple of `step`. */
export function nearMultiples(size: number, step: number, slack: number): fc.Arbitrary<number> {
  const edge = fc.integer({ min: 0, max: Math.floor(size / step) }).map((i) => i * step);
  return nearAny(size, edge, slack);
}

/** Offsets anywhere in [0, size], or within `slack` of one of the points. */
export function nearPoints(size: number, points: number[], slack: number): fc.Arbitrary<number> {
  return nearAny(size, fc.constantFrom(...points), slack);
}

function nearAny(size: number, edge: fc.Arbitrary<number>, slack: number): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 0, max: size }), edge.chain((e) => fc.integer({ min: Math.max(0, e - slack), max: Math.min(size, e + slack) })));
}
