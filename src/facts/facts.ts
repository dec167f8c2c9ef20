/**
 * System facts several checks need, read from the scanned root once and shared:
 * the accounts and their homes, the package databases, which files an installed
 * package owns, which package tools the root uses, and what the dynamic linker
 * preloads and where it looks.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';
import { ACCOUNT_FILE_READ, parsePasswd, parseShadow, type Parsed, type PasswdEntry, type ShadowEntry } from './passwd.js';
import { readWholeText } from './vfs-lines.js';
import { PackageOwnership } from './package-ownership.js';
import { PACKAGE_MANAGER_PATHS, PackageCommands, detectFrontEnd } from './package-manager.js';
import type { PackageDatabase } from './package-db.js';
import { PACKAGE_DB_PATHS, openPackageDatabases, readManagedPaths, type ManagedPaths } from './package-databases.js';
import { loginHomes, type Home } from './login-homes.js';
import { LIBRARY_PATH_CONFIG, PRELOAD, librarySearchDirs, readPreloadText } from './ld-so.js';
import { PackageFileStates } from './package-file-state.js';

/** What the facts read, declared like a check's paths so single-pass sources keep them. */
export const FACT_PATHS = ['/etc/passwd', '/etc/shadow', ...PACKAGE_DB_PATHS, ...PACKAGE_MANAGER_PATHS, PRELOAD, ...LIBRARY_PATH_CONFIG];

export class Facts {
  private passwdP?: Promise<Parsed<PasswdEntry>>;
  private shadowP?: Promise<Parsed<ShadowEntry>>;
  private databasesP?: Promise<PackageDatabase[]>;
  private managedP?: Promise<ManagedPaths>;
  private commandsP?: Promise<PackageCommands>;
  private homesP?: Promise<Home[]>;
  private preloadP?: Promise<string | undefined>;
  private libraryDirsP?: Promise<string[]>;
  readonly packages: PackageOwnership;
  /** Whether a file is still what its package installed (owned, digest as recorded). */
  readonly packageFiles: PackageFileStates;

  constructor(
    private readonly vfs: Vfs,
    private readonly onError: (path: string, err: unknown) => void = () => undefined,
  ) {
    this.packages = new PackageOwnership(() => this.packageDatabases());
    this.packageFiles = new PackageFileStates(vfs, () => this.packageDatabases());
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

  /** The home directories /etc/passwd names, each with its accounts; /root always. */
  loginHomes(): Promise<Home[]> {
    this.homesP ??= this.passwd().then((p) => loginHomes(p.entries));
    return this.homesP;
  }

  /**
   * /etc/ld.so.preload read whole, as glibc reads it (comment lines kept short);
   * undefined when there is none. What the content cap leaves unread, and a read that
   * fails, are errors, recorded once however many checks ask.
   */
  preloadFile(): Promise<string | undefined> {
    this.preloadP ??= (async () => {
      try {
        if ((await this.vfs.stat(PRELOAD)).type !== 'file') return undefined;
        const whole = await readPreloadText(this.vfs);
        if (whole.unread) this.onError(PRELOAD, whole.unread);
        return whole.text;
      } catch (err) {
        if (!isNotFound(err)) this.onError(PRELOAD, err);
        return undefined;
      }
    })();
    return this.preloadP;
  }

  /** The directories ld.so searches for a bare library name: /etc/ld.so.conf with its includes, then the defaults. */
  librarySearchDirs(): Promise<string[]> {
    this.libraryDirsP ??= librarySearchDirs(this.vfs, this.onError);
    return this.libraryDirsP;
  }

  /** The login system reads these files whole, padding and all, and so does minescan. */
  private async readText(path: string): Promise<string | undefined> {
    if (!(await this.vfs.exists(path))) return undefined;
    const whole = await readWholeText(this.vfs, path, ACCOUNT_FILE_READ);
    if (whole.unread) this.onError(path, whole.unread);
    return whole.text;
  }
}
