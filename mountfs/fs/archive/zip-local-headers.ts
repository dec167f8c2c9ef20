/**
 * The entries of a zip whose central directory is damaged, found by walking its local
 * file headers front to back (APPNOTE 4.3.7): each header gives the entry's name,
 * method, CRC and sizes, and its data follows it. An entry written with a data
 * descriptor (general purpose bit 3: sizes only after the data, APPNOTE 4.3.9) is
 * ended at the first descriptor whose compressed size matches the distance, searched
 * in bounded windows. An entry in zip64 form (APPNOTE 4.5.3) has 0xFFFFFFFF in its
 * header's sizes and the real ones in its zip64 extended information extra field, and
 * its data descriptor holds 8-byte sizes (4.3.9.2): Info-ZIP writes that form with
 * `zip -fz`, and when streaming data of unknown size to a pipe.
 * Local headers carry no external attributes, so no Unix mode:
 * entries are files, and directories when their name ends in "/". The walk stops at
 * the first byte that is neither a local header nor the start of the central
 * directory, and says where.
 */
import type { FileHandle } from 'node:fs/promises';
import { corrupt, limitExceeded, MountfsError } from '../../errors.js';

const LOCAL_SIGNATURE = 0x04034b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const END_SIGNATURE = 0x06054b50;
const DESCRIPTOR_SIGNATURE = 0x08074b50;
const LOCAL_HEADER = 30;
/** Tag of the zip64 extended information extra field (APPNOTE 4.5.3). */
const ZIP64_EXTRA = 0x0001;
const ZIP64_MARK = 0xffffffff;
/** A hostile archive may hold millions of empty entries: past this the walk stops with a limit error. */
export const MAX_LOCAL_ENTRIES = 1_000_000;
/** Bytes read at a time when looking for a data descriptor. */
const WINDOW = 1 << 20;

/** What the readers need of an entry, as node-stream-zip's ZipEntry names it. */
export interface LocalEntry {
  name: string;
  offset: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  encrypted: boolean;
  isDirectory: boolean;
  attr: number;
  time: number;
}

export interface LocalWalk {
  entries: LocalEntry[];
  /** Why the walk stopped before the central directory or the end of the file, if it did. */
  stopped?: MountfsError;
}

export async function walkLocalHeaders(fh: FileHandle, fileSize: number): Promise<LocalWalk> {
  const entries: LocalEntry[] = [];
  let at = 0;
  const header = Buffer.alloc(LOCAL_HEADER);
  while (at + 4 <= fileSize) {
    if (entries.length >= MAX_LOCAL_ENTRIES) return { entries, stopped: limitExceeded('zip local header', `more than ${MAX_LOCAL_ENTRIES} entries`, at) };
    const { bytesRead } = await fh.read(header, 0, LOCAL_HEADER, at);
    const signature = bytesRead >= 4 ? header.readUInt32LE(0) : 0;
    if (signature === CENTRAL_SIGNATURE || signature === END_SIGNATURE) return { entries };
    if (signature !== LOCAL_SIGNATURE || bytesRead < LOCAL_HEADER) return { entries, stopped: corrupt('zip local header', 'no local header signature', at) };
    const flags = header.readUInt16LE(6);
    const nameLength = header.readUInt16LE(26);
    const dataStart = at + LOCAL_HEADER + nameLength + header.readUInt16LE(28);
    if (dataStart > fileSize) return { entries, stopped: corrupt('zip local header', 'name and extra field run past the end of the file', at) };
    const name = await readAt(fh, nameLength, at + LOCAL_HEADER);
    const extra = await readAt(fh, dataStart - at - LOCAL_HEADER - nameLength, at + LOCAL_HEADER + nameLength);
    let crc = header.readUInt32LE(14);
    let compressedSize = header.readUInt32LE(18);
    let size = header.readUInt32LE(22);
    const zip64 = zip64Sizes(extra, size, compressedSize, at);
    if (zip64 instanceof Error) return { entries, stopped: zip64 };
    if (zip64) ({ size, compressedSize } = zip64);
    let descriptorLength = 0;
    if (flags & 8) {
      const descriptor = await findDescriptor(fh, dataStart, fileSize, zip64 !== undefined);
      if (!descriptor) return { entries, stopped: corrupt('zip local header', 'entry with a data descriptor whose descriptor was not found', at) };
      ({ crc, compressedSize, size } = descriptor);
      descriptorLength = descriptor.length;
    }
    if (dataStart + compressedSize > fileSize) return { entries, stopped: corrupt('zip local header', `data of ${compressedSize} bytes runs past the end of the file`, at) };
    const text = name.toString(flags & 0x800 ? 'utf8' : 'latin1');
    entries.push({
      name: text,
      offset: at,
      method: header.readUInt16LE(8),
      crc,
      compressedSize,
      size,
      encrypted: (flags & 1) !== 0,
      isDirectory: text.endsWith('/'),
      attr: 0,
      time: dosTime(header.readUInt16LE(12), header.readUInt16LE(10)),
    });
    at = dataStart + compressedSize + descriptorLength;
  }
  return { entries };
}

/** `length` bytes at `position` (Node refuses a read into an empty buffer). */
async function readAt(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  if (length > 0) await fh.read(buf, 0, length, position);
  return buf;
}

/**
 * The sizes of the zip64 extra field, for an entry whose header marks either size with
 * 0xFFFFFFFF: the field holds the marked ones only, the uncompressed size first
 * (APPNOTE 4.5.3). Undefined for an entry not in zip64 form; an error for a field that
 * is missing, too short, or names a size no file of this machine can have.
 */
function zip64Sizes(extra: Buffer, size: number, compressedSize: number, at: number): { size: number; compressedSize: number } | MountfsError | undefined {
  const field = extraField(extra, ZIP64_EXTRA);
  if (!field) {
    if (size === ZIP64_MARK || compressedSize === ZIP64_MARK) return corrupt('zip64 extra field', 'sizes marked 0xFFFFFFFF without a zip64 extra field', at);
    return undefined;
  }
  let pos = 0;
  const next = (): number | MountfsError => {
    if (pos + 8 > field.length) return corrupt('zip64 extra field', `${field.length} bytes, too short for the sizes the header marks`, at);
    const v = field.readBigUInt64LE(pos);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) return corrupt('zip64 extra field', `a size of ${v} bytes`, at);
    return Number(v);
  };
  const out = { size, compressedSize };
  if (size === ZIP64_MARK) {
    const v = next();
    if (v instanceof MountfsError) return v;
    out.size = v;
  }
  if (compressedSize === ZIP64_MARK) {
    const v = next();
    if (v instanceof MountfsError) return v;
    out.compressedSize = v;
  }
  return out;
}

/** The data of the first extra field with `tag` (APPNOTE 4.5.1: tag, size, data), bounded by the extra area. */
function extraField(extra: Buffer, tag: number): Buffer | undefined {
  for (let i = 0; i + 4 <= extra.length; ) {
    const length = extra.readUInt16LE(i + 2);
    if (i + 4 + length > extra.length) return undefined;
    if (extra.readUInt16LE(i) === tag) return extra.subarray(i + 4, i + 4 + length);
    i += 4 + length;
  }
  return undefined;
}

interface Descriptor {
  crc: number;
  compressedSize: number;
  size: number;
  /** Bytes of the descriptor: 16, or 24 with zip64's 8-byte sizes. */
  length: number;
}

/**
 * The first data descriptor after `dataStart` whose compressed size is its distance from
 * there; a zip64 entry's descriptor holds 8-byte sizes (APPNOTE 4.3.9.2).
 */
async function findDescriptor(fh: FileHandle, dataStart: number, fileSize: number, zip64: boolean): Promise<Descriptor | undefined> {
  const length = zip64 ? 24 : 16;
  const buf = Buffer.alloc(WINDOW + length);
  for (let from = dataStart; from < fileSize; from += WINDOW) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    for (let i = 0; i + length <= bytesRead; i++) {
      if (buf.readUInt32LE(i) !== DESCRIPTOR_SIGNATURE) continue;
      const distance = from + i - dataStart;
      const crc = buf.readUInt32LE(i + 4);
      if (!zip64) {
        if (buf.readUInt32LE(i + 8) === distance) return { crc, compressedSize: distance, size: buf.readUInt32LE(i + 12), length };
        continue;
      }
      if (buf.readBigUInt64LE(i + 8) !== BigInt(distance)) continue;
      const size = buf.readBigUInt64LE(i + 16);
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) continue;
      return { crc, compressedSize: distance, size: Number(size), length };
    }
  }
  return undefined;
}

/** MS-DOS date and time (APPNOTE 4.4.6), in milliseconds since the epoch, as node-stream-zip gives them. */
function dosTime(date: number, time: number): number {
  return new Date((date >> 9) + 1980, ((date >> 5) & 15) - 1, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2).getTime();
}
