/**
 * Was the filesystem unmounted cleanly? XFS does not keep a "clean" bit: a clean log
 * is one whose last record, the one just before the log head, is a lone unmount
 * record. This reader never replays the log, so when that record is missing the
 * report must say that the latest metadata changes may be absent from what was read.
 *
 * Follows the kernel's log recovery (xlog_find_head / xlog_check_unmount_rec in
 * fs/xfs/xfs_log_recover.c) and the "Journaling Log" chapter of "XFS Algorithms & Data
 * Structures", simplified to what a report needs: every 512-byte log block starts
 * with its cycle number (record headers, magic 0xFEEDBABE, carry it in h_cycle), so the
 * head is where the cycle number drops, found by binary search; the record header just
 * before it is found by scanning back a bounded window. Only the internal log is read.
 * Any doubt (external log, odd cycles, no header in the window, a read error) gives
 * 'unknown' and the caller says nothing: this check must never stop a scan.
 */
import type { ByteSource } from '../../sources/byte-source.js';
import { fsbToLinear } from './ag.js';
import type { XfsSuperblock } from './superblock.js';

export type LogState = 'clean' | 'dirty' | 'unknown';

const BB = 512;
const HEADER_MAGIC = 0xfeedbabe;
const HEADER_CYCLE_SIZE = 32 * 1024;
const UNMOUNT_TRANS = 0x20;
/** How far back from the head a record header is looked for: larger than any log record (256 KiB + headers). */
const SCAN_BBS = 1024;
const SCAN_CHUNK_BBS = 128;

export async function logState(source: ByteSource, sb: XfsSuperblock): Promise<LogState> {
  try {
    return await findLogState(source, sb);
  } catch {
    return 'unknown';
  }
}

async function findLogState(source: ByteSource, sb: XfsSuperblock): Promise<LogState> {
  if (sb.logStart === 0 || sb.logBlocks === 0) return 'unknown';
  const start = fsbToLinear(sb, sb.logStart, sb.logBlocks, 'XFS log') * sb.blockSize;
  const bbs = (sb.logBlocks * sb.blockSize) / BB;
  const readBBs = async (first: number, count: number): Promise<Buffer> => {
    const buf = await source.read(start + first * BB, count * BB);
    if (buf.length !== count * BB) throw new RangeError('log past the end of the volume');
    return buf;
  };
  const cycleAt = async (bb: number): Promise<number> => {
    const b = await readBBs(bb, 1);
    return b.readUInt32BE(0) === HEADER_MAGIC ? b.readUInt32BE(4) : b.readUInt32BE(0);
  };

  // The head: the first block whose cycle is the last block's (the older pass), or the start if all agree.
  const firstCycle = await cycleAt(0);
  const lastCycle = await cycleAt(bbs - 1);
  let head = 0;
  if (firstCycle !== lastCycle) {
    if (lastCycle + 1 !== firstCycle) return 'unknown';
    let lo = 0;
    let hi = bbs - 1;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await cycleAt(mid)) === lastCycle) hi = mid;
      else lo = mid;
    }
    head = hi;
  }

  // The last record header before the head, scanning back (wrapping round the log's end).
  let header: { at: number; buf: Buffer } | null = null;
  let pos = head; // the scan continues below this block
  for (let scanned = 0; scanned < Math.min(SCAN_BBS, bbs) && !header; ) {
    if (pos === 0) pos = bbs;
    const n = Math.min(SCAN_CHUNK_BBS, pos, SCAN_BBS - scanned);
    const buf = await readBBs(pos - n, n);
    for (let i = n - 1; i >= 0 && !header; i--) {
      if (buf.readUInt32BE(i * BB) === HEADER_MAGIC) header = { at: pos - n + i, buf: buf.subarray(i * BB, (i + 1) * BB) };
    }
    pos -= n;
    scanned += n;
  }
  if (!header) return 'unknown';
  const h = header.buf;
  const version = h.readUInt32BE(8);
  const len = h.readUInt32BE(12);
  const numLogOps = h.readUInt32BE(40);
  const size = h.readUInt32BE(320);
  const headerBBs = version & 2 && size > HEADER_CYCLE_SIZE ? Math.ceil(size / HEADER_CYCLE_SIZE) : 1;
  const after = (header.at + headerBBs + Math.ceil(len / BB)) % bbs;
  if (after !== head % bbs || numLogOps !== 1) return 'dirty';
  const op = await readBBs((header.at + headerBBs) % bbs, 1);
  return op[9]! & UNMOUNT_TRANS ? 'clean' : 'dirty';
}
