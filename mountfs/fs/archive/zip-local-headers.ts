/**
 * The entries of a zip whose central directory is damaged, found by walking its local
 * file headers front to back (APPNOTE 4.3.7): each header gives the entry's name,
 * method, CRC and sizes, and its data follows it. An entry written with a data
 * descriptor (general purpose bit 3: sizes only after the data, APPNOTE 4.3.9) is
 * ended at the first descriptor whose compressed size matches the distance, searched
 * in bounded windows. Local headers carry no external attributes, so no Unix mode:
 * entries are files, and directories when their name ends in "/". The walk stops at
 * the first byte that is neither a local header nor the start of the central
 * directory, and says where.
 */
import type { FileHandle } from 'node:fs/promises';
import { corrupt, limitExceeded, type MountfsError } from '../../errors.js';

const LOCAL_SIGNATURE = 0x04034b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const END_SIGNATURE = 0x06054b50;
const DESCRIPTOR_SIGNATURE = 0x08074b50;
const LOCAL_HEADER = 30;
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
    const name = Buffer.alloc(nameLength);
    await fh.read(name, 0, nameLength, at + LOCAL_HEADER);
    let crc = header.readUInt32LE(14);
    let compressedSize = header.readUInt32LE(18);
    let size = header.readUInt32LE(22);
    if (flags & 8) {
      const descriptor = await findDescriptor(fh, dataStart, fileSize);
      if (!descriptor) return { entries, stopped: corrupt('zip local header', 'entry with a data descriptor whose descriptor was not found', at) };
      ({ crc, compressedSize, size } = descriptor);
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
    at = dataStart + compressedSize + (flags & 8 ? 16 : 0);
  }
  return { entries };
}

/** The first data descriptor after `dataStart` whose compressed size is its distance from there. */
async function findDescriptor(fh: FileHandle, dataStart: number, fileSize: number): Promise<{ crc: number; compressedSize: number; size: number } | undefined> {
  const buf = Buffer.alloc(WINDOW + 16);
  for (let from = dataStart; from < fileSize; from += WINDOW) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    for (let i = 0; i + 16 <= bytesRead; i++) {
      if (buf.readUInt32LE(i) !== DESCRIPTOR_SIGNATURE) continue;
      if (buf.readUInt32LE(i + 8) === from + i - dataStart) return { crc: buf.readUInt32LE(i + 4), compressedSize: buf.readUInt32LE(i + 8), size: buf.readUInt32LE(i + 12) };
    }
  }
  return undefined;
}

/** MS-DOS date and time (APPNOTE 4.4.6), in milliseconds since the epoch, as node-stream-zip gives them. */
function dosTime(date: number, time: number): number {
  return new Date((date >> 9) + 1980, ((date >> 5) & 15) - 1, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2).getTime();
}
