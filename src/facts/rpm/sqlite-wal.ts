/**
 * Applies the committed frames of an SQLite write-ahead log to a copy of the main
 * database file, as SQLite's own recovery would. rpm keeps rpmdb.sqlite in WAL mode, so
 * an image taken from a running machine (a cloud snapshot) can hold its latest package
 * changes only in rpmdb.sqlite-wal; reading the main file alone would show the package
 * set before them. Follows the WAL format in sqlite.org/fileformat2.html#walformat:
 * a 32-byte header (magic, page size, salts, checksum) and frames of a 24-byte header
 * and one page, valid while their salts match and the running checksum holds; a frame
 * with a non-zero database size ends a transaction.
 */
import { BinaryView } from '../../../mountfs/binary.js';
import { corrupt, unsupported } from '../../../mountfs/errors.js';

const WAL_MAGIC = 0x377f0682;
const WAL_HEADER = 32;
const FRAME_HEADER = 24;

export interface WalReplay {
  database: Buffer;
  /** Transactions taken from the log. */
  commits: number;
  /** Valid frames after the last commit (an unfinished transaction), left out as SQLite would. */
  uncommittedFrames: number;
}

export function replayWal(database: Buffer, wal: Buffer, structure = 'SQLite WAL'): WalReplay {
  const view = new BinaryView(wal, structure);
  const magic = view.u32be(0);
  if ((magic & ~1) !== WAL_MAGIC) throw corrupt(structure, 'no WAL magic', 0);
  const bigEndianSums = (magic & 1) === 1;
  const version = view.u32be(4);
  if (version !== 3007000) throw unsupported(structure, `WAL version ${version}`, 4);
  const pageSize = view.u32be(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw corrupt(structure, `page size ${pageSize}`, 8);
  if (database.length >= 100) {
    const raw = database.readUInt16BE(16);
    const databasePageSize = raw === 1 ? 65536 : raw;
    if (databasePageSize !== pageSize) throw corrupt(structure, `page size ${pageSize}, the database's is ${databasePageSize}`, 8);
  }
  const salt1 = view.u32be(16);
  const salt2 = view.u32be(20);
  let sums = checksum(view.bytes(0, 24), [0, 0], bigEndianSums);
  if (sums[0] !== view.u32be(24) || sums[1] !== view.u32be(28)) {
    // A log whose header does not check out is one SQLite ignores: the main file stands.
    return { database, commits: 0, uncommittedFrames: 0 };
  }

  const pending = new Map<number, Buffer>();
  const committed = new Map<number, Buffer>();
  let committedPages = 0;
  let commits = 0;
  for (let at = WAL_HEADER; at + FRAME_HEADER + pageSize <= wal.length; at += FRAME_HEADER + pageSize) {
    const pageNumber = view.u32be(at);
    const pagesAfterCommit = view.u32be(at + 4);
    if (pageNumber === 0 || view.u32be(at + 8) !== salt1 || view.u32be(at + 12) !== salt2) break;
    const page = view.bytes(at + FRAME_HEADER, pageSize);
    sums = checksum(page, checksum(view.bytes(at, 8), sums, bigEndianSums), bigEndianSums);
    if (sums[0] !== view.u32be(at + 16) || sums[1] !== view.u32be(at + 20)) break;
    pending.set(pageNumber, page);
    if (pagesAfterCommit !== 0) {
      for (const [n, p] of pending) committed.set(n, p);
      pending.clear();
      committedPages = pagesAfterCommit;
      commits++;
    }
  }
  if (commits === 0) return { database, commits, uncommittedFrames: pending.size };

  // Every page of the result comes from the main file or from a frame, which bounds a hostile size.
  if (committedPages * pageSize > database.length + wal.length) {
    throw corrupt(structure, `commit frame claims ${committedPages} pages, more than the database and log hold`);
  }
  const out = Buffer.alloc(committedPages * pageSize);
  database.copy(out, 0, 0, Math.min(database.length, out.length));
  for (const [n, page] of committed) {
    if (n <= committedPages) page.copy(out, (n - 1) * pageSize);
  }
  // The log is now folded in: mark the file as a rollback-journal database so SQLite
  // does not look for a log of its own (file format bytes 18 and 19, 2 = WAL).
  if (out.length >= 20) out[18] = out[19] = 1;
  return { database: out, commits, uncommittedFrames: pending.size };
}

/** SQLite's WAL checksum: pairs of 32-bit words, in the byte order the magic chose. */
function checksum(bytes: Buffer, start: [number, number], bigEndian: boolean): [number, number] {
  let s0 = start[0];
  let s1 = start[1];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    const x0 = bigEndian ? bytes.readUInt32BE(i) : bytes.readUInt32LE(i);
    const x1 = bigEndian ? bytes.readUInt32BE(i + 4) : bytes.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}
