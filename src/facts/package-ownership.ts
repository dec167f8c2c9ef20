/**
 * Which package installed a file, answered from every package database the root has
 * (src/facts/package-databases.ts). Built once, on the first question, since most scans
 * never ask. On merged-/usr systems dpkg lists "/bin/ps" while the file lives in
 * "/usr/bin/ps": both spellings are tried.
 */
import type { PackageDatabase } from './package-db.js';
import { mergedUsrAliases } from './package-path.js';

export class PackageOwnership {
  private owners?: Promise<Map<string, string> | null>;

  constructor(private readonly databases: () => Promise<PackageDatabase[]>) {}

  /** Whether any package database was found at all. */
  async available(): Promise<boolean> {
    return (await this.load()) !== null;
  }

  /** The owning package, undefined when no package owns it, null when there is no package database. */
  async owner(path: string): Promise<string | undefined | null> {
    const map = await this.load();
    if (map === null) return null;
    for (const candidate of mergedUsrAliases(path)) {
      const pkg = map.get(candidate);
      if (pkg) return pkg;
    }
    return undefined;
  }

  private load(): Promise<Map<string, string> | null> {
    this.owners ??= this.read();
    return this.owners;
  }

  private async read(): Promise<Map<string, string> | null> {
    const databases = await this.databases();
    if (databases.length === 0) return null;
    const map = new Map<string, string>();
    for (const db of databases) for await (const file of db.files()) map.set(file.path, file.package);
    return map;
  }
}
