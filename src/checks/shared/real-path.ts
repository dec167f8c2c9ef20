/**
 * Where a path a check was given (a unit directory, a web root, a file a persistence
 * line starts) really is inside the scanned root, when it is of the type the check
 * reads. Such paths are often gone (an old vhost, a dropper cleaned up): absent is an
 * ordinary answer, and only another failure to look is an error of the scan.
 */
import type { CheckContext } from '../../model/check.js';
import type { FileType } from '../../../mountfs/vfs.js';
import { isNotFound } from '../../../mountfs/errors.js';

/** The resolved path when it is a `type`; undefined when it is absent, dangling or of another type. */
export async function realPathOf(ctx: CheckContext, path: string, type: FileType): Promise<string | undefined> {
  try {
    const real = await ctx.vfs.realpath(path);
    return (await ctx.vfs.stat(real)).type === type ? real : undefined;
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return undefined;
  }
}
