/**
 * The common shape of the two ways ext2/3/4 maps a file's logical blocks to disk
 * blocks (extent trees and indirect block maps): a mapper answers a whole range at once
 * with runs of contiguous blocks, so a reader issues one source read per run instead of
 * one per block, and holes and unwritten extents come back as runs with no disk block.
 */
export interface BlockRun {
  /** First logical block of the run. */
  logical: number;
  count: number;
  /** First disk block, or null when the run reads as zeros (a hole or an unwritten extent). */
  physical: number | null;
}

export interface BlockMapper {
  /** Runs covering logical blocks [first, first + count) exactly, in order. */
  map(first: number, count: number): Promise<BlockRun[]>;
}

/** Appends a run, merging it into the previous one when both are contiguous on disk (or both zeros). */
export function pushRun(runs: BlockRun[], logical: number, count: number, physical: number | null): void {
  if (count <= 0) return;
  const last = runs[runs.length - 1];
  if (last && last.logical + last.count === logical) {
    if (physical === null ? last.physical === null : last.physical !== null && last.physical + last.count === physical) {
      last.count += count;
      return;
    }
  }
  runs.push({ logical, count, physical });
}
