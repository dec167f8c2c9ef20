/**
 * Lines of the files minescan reads, one family: every reader hands out numbered
 * `TextLine`s without their "\r".
 *
 * - vfsLines: a text database inside the scanned root (dpkg's md5sums, status,
 *   alternatives), streamed so a big status file is never held whole, and bounded
 *   twice: at most `maxBytes` of the file are read, and a line longer than
 *   `maxLineBytes` is skipped (counted, not kept), so one hostile line can neither
 *   fill memory nor hide the lines after it.
 * - readWholeText: a file the system reads whole (crontab, unit, passwd...), padding
 *   and all, with comment lines kept short and the content kept capped.
 * - textLines, activeLines, continuedLines: the lines of such a text once in memory,
 *   as the checks' parsers walk them.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { limitExceeded, type MountfsError } from '../../mountfs/errors.js';

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

/**
 * How a file the system reads whole (a crontab, a unit, /etc/passwd, sudoers…) is
 * read: cron, systemd and the login system read every byte, so minescan does too, and
 * padding before the bad line hides nothing. Memory stays bounded by what the file
 * means, not by its size: a comment line is kept as its comment character alone,
 * however long (padding is usually comments), and the content kept is capped; a file
 * past the cap has its unread bytes reported (MountfsError kind `limit`).
 */
export interface WholeTextOptions {
  /** Characters that start a comment line (e.g. "#", "#;"); such lines are kept as that character alone. */
  commentChars?: string;
  /** Whether a comment may be indented (crontab, units, shell) or must start the line (passwd). Default true. */
  indentedComments?: boolean;
  /** Bytes of non-comment content kept; the rest of the file is left unread and reported. Default 64 MiB. */
  maxKeptBytes?: number;
}

export interface WholeText {
  /** The file's lines, one for one (so line numbers hold), comment lines shortened. */
  text: string;
  /** Its size. */
  size: number;
  /** Set when the cap was reached: what was not read, as a `limit` error for ctx.error. */
  unread?: MountfsError;
}

const DEFAULT_KEPT_BYTES = 64 << 20;
const SPACE = 0x20;
const TAB = 0x09;

/** Reads the whole file (symlinks followed inside the root) as WholeTextOptions says. */
export async function readWholeText(vfs: Vfs, path: string, options: WholeTextOptions = {}): Promise<WholeText> {
  const size = (await vfs.stat(path)).size;
  return wholeTextFrom(vfs.createReadStream(path) as AsyncIterable<Buffer>, path, size, options);
}

/**
 * readWholeText over the chunks of a read already under way (`size` bytes in all,
 * `path` for the error), for a caller that looked at the first bytes before deciding
 * to read on: the file is still read once.
 */
export async function wholeTextFrom(stream: AsyncIterable<Buffer>, path: string, size: number, options: WholeTextOptions = {}): Promise<WholeText> {
  const comments = new Set([...(options.commentChars ?? '')].map((c) => c.charCodeAt(0)));
  const indented = options.indentedComments ?? true;
  const maxKept = options.maxKeptBytes ?? DEFAULT_KEPT_BYTES;
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let consumed = 0;
  // Per line: 'start' until its first non-blank byte tells whether it is a comment.
  let mode: 'start' | 'comment' | 'keep' = 'start';
  let blanks = 0;
  let commentChar = 0;
  const keep = (piece: Buffer): boolean => {
    if (keptBytes + piece.length > maxKept) return false;
    kept.push(piece);
    keptBytes += piece.length;
    return true;
  };
  reading: for await (const chunk of stream) {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, at);
      const end = nl === -1 ? chunk.length : nl;
      let from = at;
      if (mode === 'start') {
        while (from < end && (chunk[from] === SPACE || chunk[from] === TAB) && indented) from++;
        if (from < end) {
          const first = chunk[from]!;
          if (comments.has(first) && (indented || blanks + (from - at) === 0)) {
            mode = 'comment';
            commentChar = first;
          } else {
            mode = 'keep';
            // Leading blanks seen in earlier chunks are kept as spaces.
            if (blanks > 0 && !keep(Buffer.alloc(blanks, SPACE))) break reading;
            from = at;
          }
        } else {
          blanks += from - at;
        }
      }
      if (mode === 'keep' && from < end && !keep(Buffer.from(chunk.subarray(from, end)))) break reading;
      if (nl === -1) {
        consumed += chunk.length - at;
        break;
      }
      if (mode === 'comment' && !keep(Buffer.from([commentChar]))) break reading;
      if (!keep(NEWLINE_BYTE)) break reading;
      consumed += nl + 1 - at;
      at = nl + 1;
      mode = 'start';
      blanks = 0;
    }
  }
  if (consumed < size) {
    // Stopped at the cap: the partial line is not the line the file holds, so it goes.
    let text = Buffer.concat(kept).toString('utf8');
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    const unread = limitExceeded(
      'file read',
      `${path}: ${size - consumed} of ${size} bytes not read (more than ${maxKept} bytes of content); what they hold was not checked`,
    );
    return { text, size, unread };
  }
  if (mode === 'comment') kept.push(Buffer.from([commentChar]));
  return { text: Buffer.concat(kept).toString('utf8'), size };
}

const NEWLINE_BYTE = Buffer.from('\n');

/** The lines of a text in memory, numbered from 1, each without its "\r". */
export function textLines(text: string): TextLine[] {
  return text.split('\n').map((raw, i) => ({ text: raw.replace(/\r$/, ''), line: i + 1 }));
}

/**
 * The lines that say something: not blank, and not a comment (a line whose first
 * non-blank character is one of `commentChars`). Their text is as written.
 */
export function activeLines(text: string, commentChars = '#'): TextLine[] {
  return textLines(text).filter((l) => {
    const first = l.text.trimStart()[0];
    return first !== undefined && !commentChars.includes(first);
  });
}

/**
 * The logical lines of a text whose lines continue after a trailing backslash
 * (sudoers, modprobe.d, udev rules): the backslash is dropped and the next line
 * appended after `separator`; each is numbered by its first physical line. At most
 * `maxJoined` lines are appended to one, so a hostile file of endless continuations
 * does not become one huge string.
 */
export function continuedLines(text: string, maxJoined: number, separator: string): TextLine[] {
  const physical = textLines(text);
  const out: TextLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    const first = physical[i]!.line;
    let logical = physical[i]!.text;
    let joined = 0;
    while (logical.endsWith('\\') && i + 1 < physical.length && joined++ < maxJoined) logical = logical.slice(0, -1) + separator + physical[++i]!.text;
    out.push({ line: first, text: logical });
  }
  return out;
}
