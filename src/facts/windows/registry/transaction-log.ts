/**
 * Replays the new-format transaction logs (.LOG1/.LOG2, Windows 8.1 and later) of a
 * dirty hive, as the Windows registry file format specification (Maxim Suhanov)
 * describes them: after a 512-byte copy of the base block (file type 6), log entries
 * "HvLE" at 512-byte boundaries, each with its size, sequence number, the hive bins
 * data size at the time, and dirty pages (hive-bins-relative offset and size, then the
 * pages' bytes), checked by two Marvin32 hashes. Entries from the primary's secondary
 * sequence number on, in sequence order across both logs, are applied; replay stops at
 * the first entry whose hashes or sizes are wrong, or at a gap in the sequence.
 *
 * Old-format logs (Windows 7 and Server 2012, file type 1) hold one set of dirty pages:
 * a "DIRT" bitmap of the hive bins data's 512-byte pages in the second sector, then the
 * pages whose bits are set, in order; such a log applies when its base block is valid
 * (equal sequence numbers) and was written at the primary's last written time.
 *
 * Nothing is copied: a replayed page is a reference to its bytes in the log, read when
 * the hive reader reads that part of the hive.
 */
import { corrupt, limitExceeded } from '../../../../mountfs/errors.js';
import { LOG_BASE_BLOCK_SIZE, parseBaseBlock, type BaseBlock } from './base-block.js';
import { marvin32 } from './marvin32.js';
import type { RangeReader } from './paged-file.js';

export interface LogFile {
  read: RangeReader;
  size: number;
  label: string;
}

/** A hive-bins-relative range whose bytes come from a log. */
export interface Patch {
  offset: number;
  length: number;
  log: LogFile;
  logOffset: number;
}

export interface Replay {
  patches: Patch[];
  /** Sequence number of the last entry applied. */
  sequence: number;
  hiveBinsSize: number;
  entries: number;
  /** Why replay stopped early, or why a log was not used. */
  notes: string[];
}

const HEADER = 40;
/** A log entry larger than this is not read: Windows rotates logs long before. */
const MAX_ENTRY = 64 << 20;
const MAX_ENTRIES = 100_000;
const MAX_PAGES = 1_000_000;

interface Entry {
  log: LogFile;
  at: number;
  sequence: number;
  hiveBinsSize: number;
  pages: { offset: number; length: number; logOffset: number }[];
}

/** The patches the logs add to a dirty primary hive (none when no entry applies, the notes saying why). */
export async function replayLogs(primary: BaseBlock, logs: LogFile[]): Promise<Replay> {
  const notes: string[] = [];
  const entries: Entry[] = [];
  for (const log of logs) {
    if (log.size < LOG_BASE_BLOCK_SIZE) continue;
    const base = parseBaseBlock(await log.read(0, LOG_BASE_BLOCK_SIZE));
    if (!base.checksumOk) {
      notes.push(`${log.label}: its base block is damaged`);
      continue;
    }
    if (base.fileType === 1) {
      // Old format: one log holds the whole set of dirty pages; the first that applies is used.
      const old = await readOldFormat(log, base, primary, notes);
      if (old) return old;
      continue;
    }
    if (base.fileType !== 6) {
      notes.push(`${log.label}: file type ${base.fileType} is not a transaction log`);
      continue;
    }
    entries.push(...(await readEntries(log, notes)));
  }
  entries.sort((a, b) => a.sequence - b.sequence);
  const out: Replay = { patches: [], sequence: 0, hiveBinsSize: primary.hiveBinsSize, entries: 0, notes };
  let next = primary.secondarySequence;
  let pages = 0;
  for (const e of entries) {
    if (e.sequence < next) continue;
    if (e.sequence !== next && out.entries > 0) {
      notes.push(`log entries stop at sequence number ${next - 1}: the next one found is ${e.sequence}`);
      break;
    }
    pages += e.pages.length;
    if (pages > MAX_PAGES) throw limitExceeded('registry transaction log', `more than ${MAX_PAGES} dirty pages`, e.at);
    for (const p of e.pages) out.patches.push({ offset: p.offset, length: p.length, log: e.log, logOffset: p.logOffset });
    out.sequence = e.sequence;
    out.hiveBinsSize = e.hiveBinsSize;
    out.entries++;
    next = e.sequence + 1;
  }
  if (out.entries === 0 && notes.length === 0) notes.push(`no log entry from sequence number ${primary.secondarySequence} on`);
  return out;
}

async function readEntries(log: LogFile, notes: string[]): Promise<Entry[]> {
  const out: Entry[] = [];
  for (let at = LOG_BASE_BLOCK_SIZE; at + HEADER <= log.size && out.length < MAX_ENTRIES; ) {
    const head = await log.read(at, HEADER);
    if (head.toString('latin1', 0, 4) !== 'HvLE') break;
    const size = head.readUInt32LE(4);
    const sequence = head.readUInt32LE(12);
    const hiveBinsSize = head.readUInt32LE(16);
    const count = head.readUInt32LE(20);
    const bad = (why: string) => notes.push(`${log.label}: log entry at ${at} ${why}; replay stops there`);
    if (size < HEADER || size % 512 !== 0 || at + size > log.size) {
      bad(`has size ${size}`);
      break;
    }
    if (size > MAX_ENTRY) throw limitExceeded('registry transaction log', `a log entry of ${size} bytes in ${log.label}`, at);
    if (hiveBinsSize % 4096 !== 0 || count > (size - HEADER) / 8) {
      bad(`declares ${count} pages and hive bins data of ${hiveBinsSize} bytes`);
      break;
    }
    const entry = await log.read(at, size);
    if (marvin32(entry.subarray(HEADER, size)) !== entry.readBigUInt64LE(24) || marvin32(entry.subarray(0, 32)) !== entry.readBigUInt64LE(32)) {
      bad('fails its hash check');
      break;
    }
    const pages: Entry['pages'] = [];
    let data = HEADER + count * 8;
    for (let i = 0; i < count; i++) {
      const offset = entry.readUInt32LE(HEADER + i * 8);
      const length = entry.readUInt32LE(HEADER + i * 8 + 4);
      if (length === 0 || data + length > size || offset + length > hiveBinsSize) {
        throw corrupt('registry transaction log', `dirty page ${i} (${length} bytes at ${offset}) lies outside its entry or the hive bins data`, at + HEADER + i * 8);
      }
      pages.push({ offset, length, logOffset: at + data });
      data += length;
    }
    out.push({ log, at, sequence, hiveBinsSize, pages });
    at += size;
  }
  return out;
}

const SECTOR = 512;

async function readOldFormat(log: LogFile, base: BaseBlock, primary: BaseBlock, notes: string[]): Promise<Replay | undefined> {
  if (base.primarySequence !== base.secondarySequence) {
    notes.push(`${log.label}: its sequence numbers differ (${base.primarySequence}, ${base.secondarySequence}): the log itself was not completely written`);
    return undefined;
  }
  if (base.lastWritten !== primary.lastWritten) {
    notes.push(`${log.label}: written at another time than the hive, so it does not apply`);
    return undefined;
  }
  if (base.hiveBinsSize % 4096 !== 0 || base.hiveBinsSize === 0) throw corrupt('registry transaction log', `hive bins data size ${base.hiveBinsSize}`, 40);
  const pagesInHive = base.hiveBinsSize / SECTOR;
  const vectorBytes = 4 + Math.ceil(pagesInHive / 8);
  if (SECTOR + vectorBytes > log.size) throw corrupt('registry transaction log', `the dirty vector of ${vectorBytes} bytes runs past the end of ${log.label}`, SECTOR);
  if (vectorBytes > MAX_ENTRY) throw limitExceeded('registry transaction log', `a dirty vector of ${vectorBytes} bytes`, SECTOR);
  const vector = await log.read(SECTOR, vectorBytes);
  if (vector.toString('latin1', 0, 4) !== 'DIRT') {
    notes.push(`${log.label}: no "DIRT" dirty vector`);
    return undefined;
  }
  const patches: Patch[] = [];
  let logOffset = SECTOR + Math.ceil(vectorBytes / SECTOR) * SECTOR;
  for (let page = 0; page < pagesInHive; page++) {
    if (((vector[4 + (page >> 3)]! >> (page & 7)) & 1) === 0) continue;
    if (logOffset + SECTOR > log.size) throw corrupt('registry transaction log', `${log.label} ends before dirty page ${page}`, logOffset);
    if (patches.length >= MAX_PAGES) throw limitExceeded('registry transaction log', `more than ${MAX_PAGES} dirty pages`, logOffset);
    const last = patches[patches.length - 1];
    // Contiguous pages stored contiguously are one patch.
    if (last && last.offset + last.length === page * SECTOR && last.logOffset + last.length === logOffset) last.length += SECTOR;
    else patches.push({ offset: page * SECTOR, length: SECTOR, log, logOffset });
    logOffset += SECTOR;
  }
  return { patches, sequence: base.primarySequence, hiveBinsSize: base.hiveBinsSize, entries: 1, notes };
}
