/**
 * Volumes that share sectors: no partitioning tool makes them, so they tell of a
 * damaged or hand-edited table (or LVM metadata), and a hostile one can list the same
 * filesystem thousands of times to make a scan read it thousands of times. So:
 *  - a volume whose bytes are a prefix of another's (same first sector: a filesystem is
 *    read from its start, and the longer view holds everything the shorter one does) is
 *    an alias: listed with a note naming the volume it aliases, and not scanned again;
 *  - volumes that only partly overlap can hold different filesystems (one hidden
 *    inside another's free space), so each is scanned, with a note; but only the first
 *    MAX_OVERLAPPING_SCANNED of them, since each could point its metadata at the same
 *    large shared region. The rest are listed unscanned and the layout warns, naming
 *    the cap, which makes the scan incomplete.
 * Everything here is a sort and a sweep: O(n log n) in the number of extents.
 */
import { limitExceeded, type MountfsError } from '../errors.js';

export const MAX_OVERLAPPING_SCANNED = 16;

/** A run of bytes on one underlying source, in the volume's own order. */
export interface Extent {
  /** Identity of the underlying source (the disk, a PV). */
  source: number;
  offset: number;
  length: number;
}

export interface ExtentVolume {
  /** How the report names it: "GPT partition 3", "LV vg0/root". */
  name: string;
  extents: Extent[];
  /** Its byte offset on the disk, for the report (a partition's start; an LV has none of its own). */
  offset?: number;
}

export interface OverlapPlan {
  /** Per volume (same order as given): the name of the volume it aliases. */
  aliasOf: Array<string | undefined>;
  /** Per volume: a note on sectors it shares with another. */
  overlapNote: Array<string | undefined>;
  /** Per volume: why it is listed but not scanned (over the cap). */
  skipped: Array<string | undefined>;
  /** Damage the report must count as missed data (the cap was hit). */
  warnings: MountfsError[];
}

export function planOverlaps(volumes: ExtentVolume[], what: string, cap = MAX_OVERLAPPING_SCANNED): OverlapPlan {
  const n = volumes.length;
  const plan: OverlapPlan = { aliasOf: new Array(n), overlapNote: new Array(n), skipped: new Array(n), warnings: [] };
  const total = volumes.map((v) => v.extents.reduce((a, e) => a + e.length, 0));

  // Aliases: group by first extent start; the longest of a group (first listed on a tie) is scanned.
  const groups = new Map<string, number[]>();
  volumes.forEach((v, i) => {
    const first = v.extents[0];
    if (!first || first.length === 0) return;
    const key = `${first.source}:${first.offset}`;
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const head = group.reduce((best, i) => (total[i]! > total[best]! ? i : best), group[0]!);
    for (const i of group) {
      if (i !== head && isPrefix(volumes[i]!.extents, volumes[head]!.extents)) plan.aliasOf[i] = volumes[head]!.name;
    }
  }

  // Partial overlaps among the rest: one sweep per source over extents sorted by start.
  const runs: Array<{ v: number; e: Extent }> = [];
  volumes.forEach((v, i) => {
    if (plan.aliasOf[i] === undefined) for (const e of v.extents) if (e.length > 0) runs.push({ v: i, e });
  });
  runs.sort((a, b) => a.e.source - b.e.source || a.e.offset - b.e.offset);
  const overlapping: boolean[] = new Array(n).fill(false);
  let reach: { v: number; end: number; source: number } | undefined;
  for (const { v, e } of runs) {
    if (reach && reach.source === e.source && e.offset < reach.end && reach.v !== v) {
      overlapping[v] = true;
      overlapping[reach.v] = true;
      plan.overlapNote[v] ??= `shares sectors with ${volumes[reach.v]!.name}`;
      plan.overlapNote[reach.v] ??= `shares sectors with ${volumes[v]!.name}`;
    }
    const end = e.offset + e.length;
    if (!reach || reach.source !== e.source || end > reach.end) reach = { v, end, source: e.source };
  }
  let scanned = 0;
  let over = 0;
  let firstOver: ExtentVolume | undefined;
  for (let i = 0; i < n; i++) {
    if (!overlapping[i]) continue;
    if (scanned < cap) scanned++;
    else {
      plan.skipped[i] = `not scanned: more than ${cap} ${what} volumes share sectors with others`;
      firstOver ??= volumes[i];
      over++;
    }
  }
  if (firstOver) {
    const message = `${scanned + over} ${what} volumes share sectors with others; only the first ${cap} of them are scanned (the cap on overlapping volumes), ${over} are listed unscanned`;
    plan.warnings.push(limitExceeded(firstOver.name, message, firstOver.offset));
  }
  return plan;
}

/** A's bytes are the first bytes of B's: the same runs, A's last one possibly shorter. */
function isPrefix(a: Extent[], b: Extent[]): boolean {
  if (a.length > b.length) return false;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]!;
    const y = b[k]!;
    if (x.source !== y.source || x.offset !== y.offset) return false;
    if (k < a.length - 1 ? x.length !== y.length : x.length > y.length) return false;
  }
  return true;
}

/** The aliases and overlaps of a partition table's volumes, as notes on them; returns the warnings. */
export function markPartitionOverlaps(volumes: Array<{ index: number; start: number; size: number; aliasOf?: string; notes?: string[]; skipReason?: string }>, scheme: string): MountfsError[] {
  const plan = planOverlaps(
    volumes.map((v) => ({ name: `${scheme} partition ${v.index}`, extents: [{ source: 0, offset: v.start, length: v.size }], offset: v.start })),
    scheme,
  );
  volumes.forEach((v, i) => applyPlan(v, plan, i));
  return plan.warnings;
}

/** Copies one volume's part of the plan onto it. */
export function applyPlan(v: { aliasOf?: string; notes?: string[]; skipReason?: string }, plan: OverlapPlan, i: number): void {
  const alias = plan.aliasOf[i];
  if (alias !== undefined) {
    v.aliasOf = alias;
    (v.notes ??= []).push(`starts where ${alias} starts and lies within it: an alias of it, not scanned again`);
  }
  const note = plan.overlapNote[i];
  if (note) (v.notes ??= []).push(note);
  const skip = plan.skipped[i];
  if (skip) v.skipReason = skip;
}
