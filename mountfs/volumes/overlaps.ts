/**
 * Partitions that share sectors: no partitioning tool makes them, so they tell of a
 * damaged or hand-edited table. Both are still read; the report says so.
 */
import type { Volume } from './types.js';

export function overlapWarnings(volumes: Volume[], scheme: string): string[] {
  const byStart = [...volumes].sort((a, b) => a.start - b.start);
  const out: string[] = [];
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const cur = byStart[i]!;
    if (prev.start + prev.size > cur.start) out.push(`${scheme} partitions ${prev.index} and ${cur.index} overlap`);
  }
  return out;
}
