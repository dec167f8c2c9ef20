/**
 * What a file is, told from its first bytes: an ELF program, a binary, or text a shell
 * or the kernel would run as a script. The checks that find a file started (cron's
 * run-parts, cloud-init, systemd generators, services, started scripts, integrity)
 * judge it this one way, so a file is not a script to one check and a binary to another.
 */
import type { CheckContext } from '../../model/check.js';
import { isNotFound } from '../../../mountfs/errors.js';

/** "\x7fELF", read big-endian. */
const ELF_MAGIC = 0x7f454c46;
/** How far a NUL byte is looked for: a script has none in its first 4 KiB, a program has one in its header. */
export const TEXT_PROBE_BYTES = 4096;

/** The ELF magic (elf(5)): a program or shared library. */
export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === ELF_MAGIC;
}

/** An ELF, or a NUL byte in the first 4 KiB: not a script a shell is handed. */
export function isBinary(head: Buffer): boolean {
  return isElf(head) || head.subarray(0, TEXT_PROBE_BYTES).includes(0);
}

/** A "#!" line (execve(2) runs it through its interpreter), or no NUL byte at all (a shell runs it itself). */
export function looksLikeText(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) return true;
  return !head.includes(0);
}

/** The first bytes of a file and its size. */
export interface FileHead {
  bytes: Buffer;
  size: number;
}

/**
 * The first `maxBytes` of the file (symlinks followed inside the root) and its size,
 * counted as examined; undefined when it cannot be read, which is an error entry. By
 * default a path that is absent or not a regular file reads nothing, quietly; `listed`
 * (the caller met the file in a listing) makes any failure an error.
 */
export async function readHead(ctx: CheckContext, path: string, maxBytes: number, options: { listed?: boolean } = {}): Promise<FileHead | undefined> {
  try {
    const st = await ctx.vfs.stat(path);
    if (!options.listed && st.type !== 'file') return undefined;
    const bytes = await ctx.vfs.readFile(path, { maxBytes });
    ctx.examined(path);
    return { bytes, size: st.size };
  } catch (err) {
    if (options.listed || !isNotFound(err)) ctx.error(path, err);
    return undefined;
  }
}
