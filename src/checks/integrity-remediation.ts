/**
 * The commands an integrity finding tells the operator to run: the package manager's
 * reinstall and verify commands for the database the digest came from, and the
 * chattr that has to come first when the file is locked.
 */
import type { CheckContext } from '../engine/check.js';
import type { PackageDatabase } from '../facts/package-db.js';
import { shellQuote } from '../rules/ruleset.js';
import { unlockPrefix } from './flags.js';

export function packageTools(database: PackageDatabase, packages: string[]): { reinstall: string; verify: string } {
  const names = packages.map(shellQuote).join(' ');
  return database.kind === 'rpm'
    ? { reinstall: `dnf reinstall ${names}`, verify: `rpm -V ${names}` }
    : { reinstall: `apt-get install --reinstall ${names}`, verify: `debsums -c ${names}   (or: dpkg --verify ${names})` };
}

/** "chattr -ia PATH\n" when the file is immutable or append-only, else ''. */
export async function unlock(ctx: CheckContext, path: string): Promise<string> {
  try {
    return unlockPrefix(path, await ctx.vfs.flags(path));
  } catch {
    return '';
  }
}
