/**
 * How a check reads a file the system reads whole (a crontab, a unit, passwd, a
 * script, a configuration file): through readWholeText (src/facts/vfs-lines.ts), so
 * padding hides nothing and memory stays bounded, with what the cap leaves unread and
 * any read failure recorded as the check's error entries, and the file counted as
 * examined. One place, so every check says the same about a file it could not read.
 */
import type { CheckContext } from '../../model/check.js';
import { isNotFound } from '../../../mountfs/errors.js';
import { readWholeText, type WholeTextOptions } from '../../facts/vfs-lines.js';

export interface ReadTextOptions extends WholeTextOptions {
  /** Counted for stats.filesExamined and the timeline (default true). */
  examined?: boolean;
  /**
   * The caller met the file in a listing, so it must be there: any failure, a missing
   * file too, is an error entry. By default a path that is absent or not a regular file
   * (a dangling link, a directory) reads nothing, quietly: it configures nothing.
   */
  listed?: boolean;
}

/** The file's text (symlinks followed inside the root), or undefined when there is none to read. */
export async function readText(ctx: CheckContext, path: string, options: ReadTextOptions = {}): Promise<string | undefined> {
  try {
    if (!options.listed && (await ctx.vfs.stat(path)).type !== 'file') return undefined;
    const whole = await readWholeText(ctx.vfs, path, options);
    if (options.examined ?? true) ctx.examined(path);
    if (whole.unread) ctx.error(path, whole.unread);
    return whole.text;
  } catch (err) {
    if (options.listed || !isNotFound(err)) ctx.error(path, err);
    return undefined;
  }
}
