/**
 * Reads a byte range of a stream (an attribute's value): resident values from the
 * record; non-resident ones cluster run by cluster run from the volume, sparse runs and
 * bytes past the initialized size as zeros, and LZNT1-compressed streams one
 * compression unit at a time (a unit whose clusters are all allocated is stored as is,
 * one with none is zeros, one with fewer is compressed data followed by a sparse tail).
 *
 * Follows "Data runs", "Compression" and "Sparse files" of the Linux-NTFS
 * documentation. Every cluster read is inside the volume (data-runs.ts checked it); a
 * source shorter than the volume (a cut image) is a corrupt error, never short data.
 */
import { corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import { findRun, type DataRun } from './data-runs.js';
import { decompressLznt1 } from './lznt1.js';
import type { NonResidentStream, Stream } from './ntfs-file.js';

/** Data is read from the source in pieces of at most this many bytes. */
const MAX_PIECE = 8 << 20;
/** The largest compression unit read: 16 clusters of 64 KiB. */
const MAX_UNIT_BYTES = 1 << 20;

export class StreamReader {
  constructor(
    private readonly source: ByteSource,
    private readonly clusterSize: number,
  ) {}

  /** Up to `length` bytes of `stream` from `offset` (cut at the stream's size). */
  async read(stream: Stream, offset: number, length: number, structure: string): Promise<Buffer> {
    const end = Math.min(stream.size, offset + length);
    if (!Number.isSafeInteger(offset) || offset < 0 || end <= offset) return Buffer.alloc(0);
    if (stream.resident) return Buffer.from(stream.value.subarray(offset, end));
    const out = Buffer.alloc(end - offset);
    if (stream.compressionUnit > 0) await this.readCompressed(stream, offset, end, out, structure);
    else await this.readPlain(stream, offset, Math.min(end, stream.initializedSize), out, offset, structure);
    return out;
  }

  /** Copies bytes [from, to) of the stream into out (at from - outStart); holes stay zero. */
  private async readPlain(stream: NonResidentStream, from: number, to: number, out: Buffer, outStart: number, structure: string): Promise<void> {
    const cs = this.clusterSize;
    let pos = from;
    while (pos < to) {
      const vcn = Math.floor(pos / cs);
      const i = findRun(stream.runs, vcn);
      if (i < 0) throw corrupt(structure, `byte ${pos} (VCN ${vcn}) lies past the stream's data runs (${stream.clusters} clusters)`, stream.offset);
      const run = stream.runs[i]!;
      const runEnd = Math.min(to, (run.vcn + run.length) * cs, pos + MAX_PIECE);
      if (run.lcn !== null) {
        const diskStart = (run.lcn + (vcn - run.vcn)) * cs + (pos - vcn * cs);
        const data = await this.readExact(diskStart, runEnd - pos, structure);
        data.copy(out, pos - outStart);
      }
      pos = runEnd;
    }
  }

  private async readCompressed(stream: NonResidentStream, from: number, to: number, out: Buffer, structure: string): Promise<void> {
    const unitClusters = 2 ** stream.compressionUnit;
    const unitBytes = unitClusters * this.clusterSize;
    // Windows compresses only with clusters up to 4 KiB, in units of 16 clusters (64 KiB).
    if (unitBytes > MAX_UNIT_BYTES) throw unsupported(structure, `compression units of ${unitBytes} bytes (2^${stream.compressionUnit} clusters of ${this.clusterSize} bytes)`, stream.offset);
    for (let unit = Math.floor(from / unitBytes); unit * unitBytes < to; unit++) {
      const unitStart = unit * unitBytes;
      const data = await this.unit(stream, unit, unitClusters, structure);
      if (!data) continue;
      const a = Math.max(from, unitStart);
      const b = Math.min(to, unitStart + unitBytes, Math.max(stream.initializedSize, unitStart));
      if (a < b) data.copy(out, a - from, a - unitStart, b - unitStart);
    }
  }

  /** One compression unit, decompressed; null when it is all zeros. */
  private async unit(stream: NonResidentStream, unit: number, unitClusters: number, structure: string): Promise<Buffer | null> {
    const cs = this.clusterSize;
    const first = unit * unitClusters;
    const pieces: DataRun[] = [];
    let allocated = 0;
    for (let vcn = first; vcn < first + unitClusters && vcn < stream.clusters; ) {
      const i = findRun(stream.runs, vcn);
      if (i < 0) throw corrupt(structure, `VCN ${vcn} lies past the stream's data runs`, stream.offset);
      const run = stream.runs[i]!;
      const n = Math.min(run.vcn + run.length, first + unitClusters) - vcn;
      if (run.lcn !== null) {
        pieces.push({ vcn, lcn: run.lcn + (vcn - run.vcn), length: n });
        allocated += n;
      }
      vcn += n;
    }
    if (allocated === 0) return null;
    const parts: Buffer[] = [];
    for (const p of pieces) parts.push(await this.readExact(p.lcn! * cs, p.length * cs, structure));
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (allocated === unitClusters) return data;
    return decompressLznt1(data, unitClusters * cs, pieces[0]!.lcn! * cs);
  }

  private async readExact(offset: number, length: number, structure: string): Promise<Buffer> {
    const buf = await this.source.read(offset, length);
    if (buf.length !== length) throw corrupt(structure, `cluster data at ${offset} lies past the end of the ${this.source.size}-byte volume (truncated image?)`, offset + buf.length);
    return buf;
  }
}
