/**
 * The commands an integrity finding tells the operator to run: the package manager's
 * reinstall and verify commands for the database the digest came from (the chattr
 * that comes first when the file is locked is src/checks/shared/unlock.ts's).
 */
import type { CheckContext } from '../../model/check.js';
import type { PackageDatabase } from '../../facts/package-db.js';

/** The {reinstall} and {verify} of the integrity rules, in the root's package tools (src/facts/package-manager.ts). */
export async function packageTools(ctx: CheckContext, database: PackageDatabase, packages: string[]): Promise<{ reinstall: string; verify: string }> {
  const commands = await ctx.facts.packageCommands();
  return { reinstall: commands.reinstall(packages, database.kind), verify: commands.verify(packages, database.kind) };
}

