/**
 * System facts several checks need, read from the scanned root once and shared:
 * the accounts, the package databases, which files an installed package owns, and
 * which package tools the root uses.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { ACCOUNT_FILE_READ, parsePasswd, parseShadow, type Parsed, type PasswdEntry, type ShadowEntry } from './passwd.js';
import { readWholeText } from './vfs-lines.js';
import { PackageOwnership } from './package-ownership.js';
import { PACKAGE_MANAGER_PATHS, PackageCommands, detectFrontEnd } from './package-manager.js';
import type { PackageDatabase } from './package-db.js';
import { PACKAGE_DB_PATHS, openPackageDatabases, readManagedPaths, type ManagedPaths } from './package-databases.js';


/** What the facts read, declared like a check's paths so single-pass sources keep them. */
export const FACT_PATHS = ['/etc/passwd', '/etc/shadow', ...PACKAGE_DB_PATHS, ...PACKAGE_MANAGER_PATHS];

export class Facts {
  private passwdP?: Promise<Parsed<PasswdEntry>>;
  private shadowP?: Promise<Parsed<ShadowEntry>>;
  private databasesP?: Promise<PackageDatabase[]>;
  private managedP?: Promise<ManagedPaths>;
  private commandsP?: Promise<PackageCommands>;
  readonly packages: PackageOwnership;

  constructor(
    private readonly vfs: Vfs,
    private readonly onError: (path: string, err: unknown) => void = () => undefined,
  ) {
    this.packages = new PackageOwnership(() => this.packageDatabases());
  }

  /** /etc/passwd; empty when the file is missing. */
  passwd(): Promise<Parsed<PasswdEntry>> {
    this.passwdP ??= this.readText('/etc/passwd').then((t) => parsePasswd(t ?? ''));
    return this.passwdP;
  }

  /** /etc/shadow; empty when the file is missing. */
  shadow(): Promise<Parsed<ShadowEntry>> {
    this.shadowP ??= this.readText('/etc/shadow').then((t) => parseShadow(t ?? ''));
    return this.shadowP;
  }

  /** Every package database of the root (dpkg, RPM); empty when it has none. */
  packageDatabases(): Promise<PackageDatabase[]> {
    this.databasesP ??= openPackageDatabases(this.vfs, this.onError);
    return this.databasesP;
  }

  /** Paths the package tools put in place without a package listing them (diversions, alternatives links). */
  packageManagedPaths(): Promise<ManagedPaths> {
    this.managedP ??= this.packageDatabases().then((dbs) => readManagedPaths(this.vfs, dbs, this.onError));
    return this.managedP;
  }

  /** The reinstall, verify and owner-lookup commands of the root's package tools. */
  packageCommands(): Promise<PackageCommands> {
    this.commandsP ??= this.packageDatabases().then(async (dbs) => new PackageCommands(await detectFrontEnd(this.vfs, dbs.map((d) => d.kind))));
    return this.commandsP;
  }

  /** The login system reads these files whole, padding and all, and so does minescan. */
  private async readText(path: string): Promise<string | undefined> {
    if (!(await this.vfs.exists(path))) return undefined;
    const whole = await readWholeText(this.vfs, path, ACCOUNT_FILE_READ);
    if (whole.unread) this.onError(path, whole.unread);
    return whole.text;
  }
}
