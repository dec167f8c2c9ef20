/**
 * Mapping pairs ("data runs") of a non-resident attribute: a compact list of
 * (length, signed LCN delta) pairs saying which clusters hold VCNs lowestVcn.. of the
 * attribute; a pair with no delta is a sparse run (reads as zeros, or is the tail of a
 * compression unit).
 *
 * Layout: "Data runs" in the Linux-NTFS documentation and ntfs-3g's runlist.c
 * description of the mapping pairs array. Each run must stay inside the volume, the
 * runs must cover exactly lowestVcn..highestVcn, and their number is bounded by the
 * bytes that hold them, so a hostile list can neither point outside the volume nor
 * grow without end.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';

export interface DataRun {
  vcn: number;
  /** First cluster on the volume, or null for a sparse run. */
  lcn: number | null;
  length: number;
}

/** A value of `size` bytes, little-endian, sign-extended when `signed`. */
function varInt(v: BinaryView, at: number, size: number, signed: boolean): number {
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(v.u8(at + i));
  if (signed && size > 0 && v.u8(at + size - 1) & 0x80) value -= 1n << BigInt(size * 8);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt(v.structure, `a ${size}-byte mapping pair value is too large for any volume`, v.baseOffset + at);
  }
  return Number(value);
}

/**
 * The runs of one attribute extent. `totalClusters` bounds every LCN; `highestVcn` is
 * where the extent says it ends (-1: empty).
 */
export function decodeDataRuns(pairs: BinaryView, lowestVcn: number, highestVcn: number, totalClusters: number): DataRun[] {
  const runs: DataRun[] = [];
  let at = 0;
  let vcn = lowestVcn;
  let lcn = 0;
  while (at < pairs.length) {
    const header = pairs.u8(at);
    if (header === 0) break;
    const lengthSize = header & 0x0f;
    const offsetSize = header >> 4;
    if (lengthSize === 0 || lengthSize > 8 || offsetSize > 8) throw corrupt(pairs.structure, `mapping pair header 0x${header.toString(16)} has impossible field sizes`, pairs.baseOffset + at);
    const length = varInt(pairs, at + 1, lengthSize, false);
    if (length <= 0) throw corrupt(pairs.structure, `a data run of ${length} clusters`, pairs.baseOffset + at);
    let runLcn: number | null = null;
    if (offsetSize > 0) {
      lcn += varInt(pairs, at + 1 + lengthSize, offsetSize, true);
      if (lcn < 0 || lcn + length > totalClusters) {
        throw corrupt(pairs.structure, `data run of ${length} clusters at cluster ${lcn} points past the volume's ${totalClusters} clusters`, pairs.baseOffset + at);
      }
      runLcn = lcn;
    }
    runs.push({ vcn, lcn: runLcn, length });
    vcn += length;
    if (vcn > highestVcn + 1) throw corrupt(pairs.structure, `data runs reach VCN ${vcn - 1}, past the extent's highest VCN ${highestVcn}`, pairs.baseOffset + at);
    at += 1 + lengthSize + offsetSize;
  }
  if (vcn !== highestVcn + 1) throw corrupt(pairs.structure, `data runs end at VCN ${vcn - 1}, the extent says ${highestVcn}`, pairs.baseOffset + at);
  return runs;
}

/** The index of the run holding `vcn`, by binary search over runs in VCN order; -1 when none does. */
export function findRun(runs: readonly DataRun[], vcn: number): number {
  let lo = 0;
  let hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = runs[mid]!;
    if (vcn < r.vcn) hi = mid - 1;
    else if (vcn >= r.vcn + r.length) lo = mid + 1;
    else return mid;
  }
  return -1;
}
