/**
 * The in-memory members of the line family (src/facts/vfs-lines.ts) that the checks'
 * parsers walk, and the first-bytes sniff the boot-time checks share
 * (src/checks/shared/file-head.ts): the edge cases each private copy used to get right
 * on its own.
 */
import { describe, expect, it } from 'vitest';
import { activeLines, continuedLines, textLines } from '../../src/facts/vfs-lines.js';
import { isBinary, isElf, looksLikeText } from '../../src/checks/shared/file-head.js';

describe('textLines, activeLines, continuedLines', () => {
  it('numbers every line from 1 and drops only a trailing carriage return', () => {
    expect(textLines('a\r\nb\r\r\n\nlast')).toEqual([
      { text: 'a', line: 1 },
      { text: 'b\r', line: 2 },
      { text: '', line: 3 },
      { text: 'last', line: 4 },
    ]);
  });

  it('keeps lines that say something, as written, with their numbers', () => {
    expect(activeLines('# c\n\n  \t\n  job 1\r\n ; x\n;y')).toEqual([
      { text: '  job 1', line: 4 },
      { text: ' ; x', line: 5 },
      { text: ';y', line: 6 },
    ]);
    expect(activeLines('# c\n ; x\nz', '#;')).toEqual([{ text: 'z', line: 3 }]);
  });

  it('joins backslash continuations at their first line, at most maxJoined lines each', () => {
    expect(continuedLines('a \\\r\nb\nc\\\nd\\\ne\\\nf', 2, ' ')).toEqual([
      { text: 'a  b', line: 1 },
      { text: 'c d e\\', line: 3 },
      { text: 'f', line: 6 },
    ]);
  });
});

describe('file-head', () => {
  const elf = Buffer.from('\x7fELF\x02\x01\x01\0', 'latin1');
  it('tells an ELF, a binary and a script apart', () => {
    expect(isElf(elf)).toBe(true);
    expect(isElf(Buffer.from('\x7fEL', 'latin1'))).toBe(false);
    expect(isBinary(elf)).toBe(true);
    expect(isBinary(Buffer.concat([Buffer.from('#!/bin/sh\n'), Buffer.alloc(1)]))).toBe(true);
    // A NUL past the first 4 KiB does not make a script binary.
    expect(isBinary(Buffer.concat([Buffer.alloc(4096, 0x41), Buffer.alloc(1)]))).toBe(false);
    expect(looksLikeText(Buffer.from('#!\0'))).toBe(true);
    expect(looksLikeText(Buffer.from('echo\0'))).toBe(false);
    expect(looksLikeText(Buffer.from('echo hi\n'))).toBe(true);
  });
});
