/**
 * A program something runs (a cloud-init script, a systemd generator, a cron.daily
 * script, an init script, a script a persistence line starts), read in one pass: its
 * first 4 KiB tell a binary from a script; a script is read on from there to its end as
 * the shell reads it (readWholeText: comment lines kept short, content capped, what the
 * cap leaves unread reported); a binary is not read further, its size is its stat's.
 * Reading the head and then the whole file again would read the start twice and let
 * the file change in between.
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import { isNotFound, type MountfsError } from '../../../mountfs/errors.js';
import type { CheckContext } from '../../model/check.js';
import { wholeTextFrom } from '../../facts/vfs-lines.js';
import { TEXT_PROBE_BYTES, isBinary } from './file-head.js';

export type ScriptRead =
  /**
   * `head` is the first 4 KiB (less when the file is shorter); `bytesRead` is the
   * file's size up to binaryBytes, what the findings say was measured of it.
   */
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
  const head = await vfs.readFile(path, { maxBytes: TEXT_PROBE_BYTES });
  if (!isScript(head)) return { kind: 'binary', head, bytesRead: Math.min(size, binaryBytes) };
  async function* whole(): AsyncGenerator<Buffer> {
    yield head;
    // The rest from where the head stopped: no byte is read twice.
    if (head.length === TEXT_PROBE_BYTES && size > head.length) yield* vfs.createReadStream(path, { start: head.length }) as AsyncIterable<Buffer>;
  }
  const text = await wholeTextFrom(whole(), path, size, { commentChars: '#' });
  return { kind: 'script', head, text: text.text, ...(text.unread ? { unread: text.unread } : {}) };
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
