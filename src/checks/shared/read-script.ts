/**
 * A program something runs (a cloud-init script, a systemd generator, a cron.daily
 * script, a script a persistence line starts), read in one pass: its first 4 KiB tell a binary from a script; a script is
 * read on to its end as the shell reads it (readWholeText: comment lines kept short,
 * content capped, what the cap leaves unread reported), a binary is read on only to be
 * measured (up to `binaryBytes`, counted, never kept). Reading the head and then the
 * whole file again would read the start twice and let the file change in between.
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import { isNotFound, type MountfsError } from '../../../mountfs/errors.js';
import type { CheckContext } from '../../model/check.js';
import { wholeTextFrom } from '../../facts/vfs-lines.js';
import { TEXT_PROBE_BYTES, isBinary } from './file-head.js';

export type ScriptRead =
  /** `head` is the first 4 KiB (less when the file is shorter); `bytesRead` is at most binaryBytes. */
  | { kind: 'binary'; head: Buffer; bytesRead: number }
  | { kind: 'script'; head: Buffer; text: string; unread?: MountfsError };

/**
 * Reads the regular file at `path` (symlinks followed inside the root) of `size` bytes,
 * once. `isScript` judges the first 4 KiB: by default anything but a binary (an ELF, or
 * a NUL byte).
 */
export async function readScriptOnce(
  vfs: Vfs,
  path: string,
  size: number,
  binaryBytes: number,
  isScript: (head: Buffer) => boolean = (head) => !isBinary(head),
): Promise<ScriptRead> {
  const chunks = (vfs.createReadStream(path) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < TEXT_PROBE_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  const first = Buffer.concat(head).subarray(0, TEXT_PROBE_BYTES);
  if (!isScript(first)) {
    let bytesRead = headBytes;
    while (!ended && bytesRead < binaryBytes) {
      const next = await chunks.next();
      if (next.done) break;
      bytesRead += next.value.length;
    }
    await chunks.return?.();
    return { kind: 'binary', head: first, bytesRead: Math.min(bytesRead, binaryBytes) };
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* head;
      if (ended) return;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    } finally {
      // Stopped at the content cap: the stream is closed, not left open.
      await chunks.return?.();
    }
  }
  const whole = await wholeTextFrom(rest(), path, size, { commentChars: '#' });
  return { kind: 'script', head: first, text: whole.text, ...(whole.unread ? { unread: whole.unread } : {}) };
}

/**
 * A program a runner starts from a directory of its own (cloud-init's scripts, systemd's
 * generators), as the runner does: the path resolved inside the root, only a regular
 * executable file (the runners skip the rest, which is examined and nothing more), each
 * real file once (`seen`), read once. A read that fails for another reason than absence
 * is an error of the scan, and a script's unread rest too.
 */
export async function readRunnable(
  ctx: CheckContext,
  path: string,
  seen: Set<string>,
  binaryBytes: number,
): Promise<{ real: string; script: ScriptRead } | undefined> {
  let real: string;
  let script: ScriptRead;
  try {
    real = await ctx.vfs.realpath(path);
    const stat = await ctx.vfs.stat(real);
    // Two names of one file (merged /usr, a symlinked script) run it once.
    if (stat.type !== 'file' || seen.has(real)) return undefined;
    seen.add(real);
    if ((stat.mode & 0o111) === 0) {
      ctx.examined(real);
      return undefined;
    }
    // The runner runs the whole script: every line is read, however much padding comes first.
    script = await readScriptOnce(ctx.vfs, real, stat.size, binaryBytes);
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return undefined;
  }
  ctx.examined(real);
  if (script.kind === 'script' && script.unread) ctx.error(real, script.unread);
  return { real, script };
}
