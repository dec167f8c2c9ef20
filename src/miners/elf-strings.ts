/**
 * Printable strings of an ELF file, as strings(1) would show them, read in bounded
 * windows: only the sections that carry constant strings when the section headers are
 * sane (elf-sections.ts), else the whole file; never more than a per-file byte budget
 * and a scan-wide one, never more than a string count and a character count. A string
 * that spans two windows is carried over, so the window size never splits one.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { stringSections, type FileRange } from './elf-sections.js';

export interface ByteBudget {
  /** Bytes still allowed; shared by every file of one scan. */
  left: number;
}

export interface StringsLimits {
  /** Bytes read of one file at most. */
  maxFileBytes: number;
  maxStrings: number;
  /** Characters kept in all (a string is cut at maxStringLength). */
  maxChars: number;
  minLength: number;
  maxStringLength: number;
  /** Bytes per read. */
  window: number;
}

export const DEFAULT_STRINGS_LIMITS: StringsLimits = {
  maxFileBytes: 64 << 20,
  maxStrings: 200_000,
  maxChars: 16 << 20,
  minLength: 4,
  maxStringLength: 4096,
  window: 1 << 20,
};

export type StringsStop = 'file-budget' | 'scan-budget' | 'string-budget' | 'not-kept';

export interface ElfStrings {
  strings: string[];
  bytesRead: number;
  /** What was read: the string sections or the whole file. */
  source: 'sections' | 'whole-file';
  /** Why reading stopped before the end, when it did. */
  stoppedBy?: StringsStop;
}

/**
 * Strings of the file at `path` (size from its stat, `head` its first bytes, at least
 * 64 when the file is that long).
 */
export async function readElfStrings(
  vfs: Vfs,
  path: string,
  size: number,
  head: Buffer,
  budget: ByteBudget,
  limits: StringsLimits = DEFAULT_STRINGS_LIMITS,
): Promise<ElfStrings> {
  const result: ElfStrings = { strings: [], bytesRead: 0, source: 'whole-file' };
  const readAt = async (offset: number, length: number): Promise<Buffer> => {
    const got = await vfs.readFile(path, { offset, maxBytes: length });
    result.bytesRead += got.length;
    budget.left -= got.length;
    return got;
  };
  let ranges: FileRange[] | undefined;
  try {
    ranges = await stringSections(head, size, readAt);
  } catch (err) {
    // The headers sit in a part of the file a single-pass source did not keep: read what is there.
    if (!isLimit(err)) throw err;
  }
  if (ranges) result.source = 'sections';
  else ranges = [{ offset: 0, length: size }];

  const collector = new StringCollector(limits, result.strings);
  let fileLeft = limits.maxFileBytes;
  outer: for (const range of ranges) {
    const end = range.offset + range.length;
    for (let pos = range.offset; pos < end; ) {
      if (fileLeft <= 0) {
        result.stoppedBy = 'file-budget';
        break outer;
      }
      if (budget.left <= 0) {
        result.stoppedBy = 'scan-budget';
        break outer;
      }
      if (collector.full) {
        result.stoppedBy = 'string-budget';
        break outer;
      }
      const want = Math.min(limits.window, end - pos, fileLeft, budget.left);
      let chunk: Buffer;
      try {
        chunk = await readAt(pos, want);
      } catch (err) {
        if (!isLimit(err)) throw err;
        result.stoppedBy = 'not-kept';
        break outer;
      }
      if (chunk.length === 0) break;
      collector.push(chunk);
      pos += chunk.length;
      fileLeft -= chunk.length;
    }
    collector.end(); // sections are apart: a string never spans two
  }
  collector.end();
  if (collector.full && !result.stoppedBy) result.stoppedBy = 'string-budget';
  return result;
}

function isLimit(err: unknown): boolean {
  return err instanceof MountfsError && err.kind === 'limit';
}

const PRINTABLE_RUN = /[\t\x20-\x7e]+/g;

function printable(code: number): boolean {
  return code === 0x09 || (code >= 0x20 && code <= 0x7e);
}

/** Cuts byte windows into strings, carrying an unfinished run into the next window. */
export class StringCollector {
  private carry = '';
  /** Inside a run already emitted because it reached maxStringLength: drop the rest of it. */
  private skipping = false;
  private chars = 0;

  constructor(
    private readonly limits: Pick<StringsLimits, 'maxStrings' | 'maxChars' | 'minLength' | 'maxStringLength'>,
    readonly out: string[] = [],
  ) {}

  get full(): boolean {
    return this.out.length >= this.limits.maxStrings || this.chars >= this.limits.maxChars;
  }

  push(chunk: Buffer): void {
    let text = chunk.toString('latin1');
    if (this.skipping) {
      let i = 0;
      while (i < text.length && printable(text.charCodeAt(i))) i++;
      if (i === text.length) return;
      this.skipping = false;
      text = text.slice(i);
    }
    text = this.carry + text;
    this.carry = '';
    let tail = text.length;
    while (tail > 0 && printable(text.charCodeAt(tail - 1))) tail--;
    const open = text.slice(tail);
    for (const m of text.slice(0, tail).matchAll(PRINTABLE_RUN)) this.emit(m[0]);
    if (open.length >= this.limits.maxStringLength) {
      this.emit(open);
      this.skipping = true;
    } else {
      this.carry = open;
    }
  }

  /** The data ended: the carried run is a whole string. */
  end(): void {
    if (this.carry) this.emit(this.carry);
    this.carry = '';
    this.skipping = false;
  }

  private emit(run: string): void {
    if (run.length < this.limits.minLength || this.full) return;
    const s = run.length > this.limits.maxStringLength ? run.slice(0, this.limits.maxStringLength) : run;
    this.out.push(s);
    this.chars += s.length;
  }
}
