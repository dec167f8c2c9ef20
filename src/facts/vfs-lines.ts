/**
 * Line-by-line reading of a text database inside the scanned root (dpkg's md5sums,
 * status, alternatives), streamed so a big status file is never held whole, and
 * bounded twice: at most `maxBytes` of the file are read, and a line longer than
 * `maxLineBytes` is skipped (counted, not kept), so one hostile line can neither fill
 * memory nor hide the lines after it.
 */
import type { Vfs } from '../../mountfs/vfs.js';

export interface LineLimits {
  /** Bytes read from the start of the file; the rest is left unread. */
  maxBytes: number;
  /** Longer lines are skipped whole. */
  maxLineBytes: number;
}

export interface TextLine {
  text: string;
  /** 1-based. */
  line: number;
}

/** What a read left out, so the caller can say so once per file rather than once per line. */
export interface LineSkips {
  longLines: number;
  /** The file is longer than maxBytes. */
  cut: boolean;
}

const NEWLINE = 0x0a;

/** The lines of the file, without their "\n" (and "\r"). Fills `skips` as it goes. */
export async function* vfsLines(vfs: Vfs, path: string, limits: LineLimits, skips: LineSkips): AsyncGenerator<TextLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  let line = 0;
  let read = 0;
  const take = (piece: Buffer): TextLine | undefined => {
    line++;
    const whole = tooLong || pendingBytes + piece.length > limits.maxLineBytes;
    const out = whole ? undefined : pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
    pending = [];
    pendingBytes = 0;
    tooLong = false;
    if (!out) {
      skips.longLines++;
      return undefined;
    }
    return { text: out.toString('utf8').replace(/\r$/, ''), line };
  };
  // One byte past the bound tells whether the file goes on, without a stat of its own.
  for await (const whole of vfs.createReadStream(path, { end: limits.maxBytes + 1 }) as AsyncIterable<Buffer>) {
    const chunk = read + whole.length > limits.maxBytes ? whole.subarray(0, limits.maxBytes - read) : whole;
    read += whole.length;
    if (read > limits.maxBytes) skips.cut = true;
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const got = take(chunk.subarray(start, nl));
      if (got) yield got;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || tooLong) continue;
    if (pendingBytes + rest.length > limits.maxLineBytes) {
      // Drop what we have and remember that this line is lost: its end is skipped too.
      tooLong = true;
      pending = [];
      pendingBytes = 0;
      continue;
    }
    pending.push(Buffer.from(rest));
    pendingBytes += rest.length;
  }
  // A line cut by the byte bound is not the line the file holds: it is dropped, not guessed at.
  if (skips.cut) return;
  if (pendingBytes > 0 || tooLong) {
    const got = take(Buffer.alloc(0));
    if (got) yield got;
  }
}

/** "2 lines over 4096 bytes skipped; only the first 64 MiB read", or '' when nothing was left out. */
export function describeSkips(skips: LineSkips, limits: LineLimits): string {
  const parts: string[] = [];
  if (skips.longLines > 0) parts.push(`${skips.longLines} line(s) over ${limits.maxLineBytes} bytes skipped`);
  if (skips.cut) parts.push(`only the first ${limits.maxBytes} bytes read`);
  return parts.join('; ');
}

export function noSkips(): LineSkips {
  return { longLines: 0, cut: false };
}
