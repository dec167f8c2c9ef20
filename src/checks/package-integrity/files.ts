/**
 * What a file in a command or library directory is, told from its first bytes, for
 * the integrity findings: "an ELF program of 141 KiB", "a script (#!/bin/bash)".
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import { isElf } from '../shared/file-head.js';

const HEAD_BYTES = 256;

export interface FileKind {
  elf: boolean;
  script: boolean;
  /** Words for a message. */
  words: string;
}

/** Follows symlinks inside the root; throws when the file cannot be read. */
export async function fileKind(vfs: Vfs, path: string): Promise<FileKind> {
  const st = await vfs.stat(path);
  if (st.type !== 'file') return { elf: false, script: false, words: `a ${st.type}` };
  const head = await vfs.readFile(path, { maxBytes: HEAD_BYTES });
  if (isElf(head)) return { elf: true, script: false, words: `an ELF program of ${st.size} bytes` };
  if (head.subarray(0, 2).toString('latin1') === '#!') {
    const shebang = head.toString('latin1').split('\n', 1)[0]!.slice(0, 60).trim();
    return { elf: false, script: true, words: `a script (${shebang}) of ${st.size} bytes` };
  }
  if (st.size === 0) return { elf: false, script: false, words: 'an empty file' };
  return { elf: false, script: false, words: `a file of ${st.size} bytes that is neither ELF nor a #! script` };
}

/** The section prelink adds to every program and library it rewrites (prelink(8), --undo). */
const PRELINK_UNDO = Buffer.from('.gnu.prelink_undo');

/**
 * Whether the file carries prelink's undo section name. prelink rewrites ELF files in
 * place (RHEL/CentOS 5 and 6 ran it daily), so they differ from their package by design;
 * `rpm -V` undoes that before comparing, minescan cannot. Read in bounded chunks; the
 * name may straddle two of them.
 */
export async function isPrelinked(vfs: Vfs, path: string, maxBytes: number): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of vfs.createReadStream(path, { end: maxBytes }) as AsyncIterable<Buffer>) {
    const window = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
    if (window.includes(PRELINK_UNDO)) return true;
    tail = Buffer.from(window.subarray(Math.max(0, window.length - PRELINK_UNDO.length + 1)));
  }
  return false;
}
