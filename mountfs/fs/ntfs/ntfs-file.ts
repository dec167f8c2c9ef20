/**
 * An NTFS file as the reader uses it: the attributes of its base MFT record and of the
 * extension records its $ATTRIBUTE_LIST names, gathered into names, times, DOS
 * attributes, a reparse point, and streams (each attribute type and name, its
 * non-resident extents joined into one run list in VCN order).
 *
 * The extents of one stream must follow each other exactly (no gap, no overlap) and the
 * number of runs is bounded, so a hostile list cannot make the reader loop or grow.
 */
import { corrupt, limitExceeded } from '../../errors.js';
import { ATTR, ATTR_FLAG, type Attribute, type NonResidentAttribute } from './attribute.js';
import { decodeDataRuns, type DataRun } from './data-runs.js';
import { parseFileName, NAMESPACE, type FileName } from './file-name.js';
import { RECORD_FLAG, type MftRecord } from './mft-record.js';
import { parseReparsePoint, type ReparsePoint } from './reparse.js';
import { parseStandardInformation, type StandardInformation } from './standard-information.js';

/** The attributes read as streams ($VOLUME_INFORMATION, 0x70, for the volume's state). */
const STREAM_TYPES: ReadonlySet<number> = new Set([ATTR.ATTRIBUTE_LIST, 0x70, ATTR.DATA, ATTR.INDEX_ROOT, ATTR.INDEX_ALLOCATION, ATTR.BITMAP, ATTR.REPARSE_POINT]);

/** Runs of one stream; a file fragmented further than this is refused as a `limit`. */
const MAX_RUNS = 1 << 20;

interface StreamCommon {
  type: number;
  name: string;
  /** Attribute flags of the first extent (compressed, encrypted, sparse). */
  flags: number;
  /** The record and byte offset of the first extent, for errors. */
  record: number;
  offset: number;
}

export interface ResidentStream extends StreamCommon {
  resident: true;
  value: Buffer;
  /** Where the value lies in the byte source, for errors. */
  valueOffset: number;
  size: number;
}

export interface NonResidentStream extends StreamCommon {
  resident: false;
  runs: DataRun[];
  size: number;
  initializedSize: number;
  /** Clusters the runs cover. */
  clusters: number;
  /** log2 of clusters per compression unit; 0 when the stream is not compressed. */
  compressionUnit: number;
}

export type Stream = ResidentStream | NonResidentStream;

export interface NtfsFile {
  record: number;
  directory: boolean;
  info?: StandardInformation;
  /** Every name but DOS-only 8.3 twins. */
  names: FileName[];
  reparse?: ReparsePoint;
  /** By `${type}:${name}`. */
  streams: Map<string, Stream>;
  offset: number;
}

export const streamKey = (type: number, name: string): string => `${type}:${name}`;

function joinExtents(extents: NonResidentAttribute[], totalClusters: number): NonResidentStream {
  extents.sort((a, b) => a.lowestVcn - b.lowestVcn);
  const first = extents[0]!;
  const structure = `NTFS attribute 0x${first.type.toString(16)} "${first.name}" of MFT record ${first.record}`;
  if (first.lowestVcn !== 0) throw corrupt(structure, `the first extent starts at VCN ${first.lowestVcn}`, first.offset);
  const runs: DataRun[] = [];
  let next = 0;
  for (const e of extents) {
    if (e.lowestVcn !== next) throw corrupt(structure, `extent in MFT record ${e.record} starts at VCN ${e.lowestVcn}, the previous ends before ${next}`, e.offset);
    const part = decodeDataRuns(e.mappingPairs, e.lowestVcn, e.highestVcn, totalClusters);
    if (runs.length + part.length > MAX_RUNS) throw limitExceeded(structure, `more than ${MAX_RUNS} data runs`, e.offset);
    for (const r of part) runs.push(r);
    next = e.highestVcn + 1;
  }
  if (first.dataSize > first.allocatedSize || first.initializedSize > first.dataSize) {
    throw corrupt(structure, `sizes disagree: data ${first.dataSize}, initialized ${first.initializedSize}, allocated ${first.allocatedSize}`, first.offset + 40);
  }
  const compressed = (first.flags & ATTR_FLAG.COMPRESSED) !== 0 && first.compressionUnit > 0;
  if (compressed && first.compressionUnit > 16) throw corrupt(structure, `compression unit of 2^${first.compressionUnit} clusters`, first.offset + 34);
  return {
    type: first.type,
    name: first.name,
    flags: first.flags,
    record: first.record,
    offset: first.offset,
    resident: false,
    runs,
    size: first.dataSize,
    initializedSize: first.initializedSize,
    clusters: next,
    compressionUnit: compressed ? first.compressionUnit : 0,
  };
}

/** The file whose base record is `base`, from `attributes` (its own and its extension records'). */
export function buildFile(base: MftRecord, attributes: Attribute[], totalClusters: number): NtfsFile {
  const file: NtfsFile = { record: base.number, directory: (base.flags & RECORD_FLAG.DIRECTORY) !== 0, names: [], streams: new Map(), offset: base.offset };
  const extents = new Map<string, NonResidentAttribute[]>();
  for (const a of attributes) {
    if (a.type === ATTR.STANDARD_INFORMATION && a.resident && !file.info) file.info = parseStandardInformation(a.value);
    else if (a.type === ATTR.FILE_NAME && a.resident) {
      const name = parseFileName(a.value);
      if (name.namespace !== NAMESPACE.DOS) file.names.push(name);
    } else if (a.type === ATTR.REPARSE_POINT && a.resident) file.reparse = parseReparsePoint(a.value);
    // Only what the reader uses becomes a stream: a damaged security descriptor, object id
    // or extended attribute must not make the file unreadable.
    if (!STREAM_TYPES.has(a.type)) continue;
    const key = streamKey(a.type, a.name);
    if (a.resident) {
      if (file.streams.has(key) || extents.has(key)) throw corrupt(`NTFS MFT record ${base.number}`, `attribute 0x${a.type.toString(16)} "${a.name}" appears twice`, a.offset);
      const value = Buffer.from(a.value.buf);
      file.streams.set(key, { type: a.type, name: a.name, flags: a.flags, record: a.record, offset: a.offset, resident: true, value, valueOffset: a.value.baseOffset, size: value.length });
    } else {
      if (file.streams.has(key)) throw corrupt(`NTFS MFT record ${base.number}`, `attribute 0x${a.type.toString(16)} "${a.name}" is both resident and not`, a.offset);
      let list = extents.get(key);
      if (!list) extents.set(key, (list = []));
      list.push(a);
    }
  }
  for (const [key, list] of extents) file.streams.set(key, joinExtents(list, totalClusters));
  return file;
}
