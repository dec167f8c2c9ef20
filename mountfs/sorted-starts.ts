/**
 * Finding the piece of a mapped byte range that holds an offset: a VMDK's extents and
 * an LVM volume's segments are each kept sorted by their start, and every read starts
 * at the last piece that starts at or before the offset it wants.
 */

/** Index of the last item whose start is at or before `offset` (0 when none is). Binary search. */
export function lastStartingBy(items: ReadonlyArray<{ readonly start: number }>, offset: number): number {
  let lo = 0;
  let hi = items.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (items[mid]!.start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
