/**
 * The commands an integrity finding tells the operator to run: the package manager's
 * reinstall and verify commands for the database the digest came from (the chattr
 * that comes first when the file is locked is src/checks/shared/unlock.ts's).
 */
import type { PackageDatabase } from '../../facts/package-db.js';
import { shellQuote } from '../../rules/ruleset.js';

export function packageTools(database: PackageDatabase, packages: string[]): { reinstall: string; verify: string } {
  const names = packages.map(shellQuote).join(' ');
  return database.kind === 'rpm'
    ? { reinstall: `dnf reinstall ${names}`, verify: `rpm -V ${names}` }
    : { reinstall: `apt-get install --reinstall ${names}`, verify: `debsums -c ${names}   (or: dpkg --verify ${names})` };
}

