/**
 * Which package installed a file, answered from every package database the root has
 * (src/facts/package-databases.ts). Built once, on the first question, since most scans
 * never ask. On merged-/usr systems dpkg lists "/bin/ps" while the file lives in
 * "/usr/bin/ps": both spellings are tried.
 *
 * The answer is one of three, and a caller must say what it does with each: a package
 * owns it (reinstall that package), no package owns it (the file is someone's
 * addition), or minescan cannot tell (no database: the file may well be a
 * distribution's, so nothing is deleted on that ground).
 */
import type { PackageDatabase } from './package-db.js';
import type { PackageFormat } from './package-manager.js';
import { mergedUsrAliases } from './package-path.js';

export type Ownership =
  | { kind: 'owned'; package: string; manager: PackageFormat }
  | { kind: 'unowned' }
  | { kind: 'unknown'; reason: string };

const NO_DATABASE: Ownership = { kind: 'unknown', reason: 'the root has no package database minescan reads' };
const UNOWNED: Ownership = { kind: 'unowned' };

/** The owning package's name, or undefined: for texts that only name it. */
export function ownerName(o: Ownership): string | undefined {
  return o.kind === 'owned' ? o.package : undefined;
}

type Owned = Ownership & { kind: 'owned' };

export class PackageOwnership {
  private owners?: Promise<Map<string, Owned> | null>;

  constructor(private readonly databases: () => Promise<PackageDatabase[]>) {}

  /** Whether any package database was found at all. */
  async available(): Promise<boolean> {
    return (await this.load()) !== null;
  }

  async owner(path: string): Promise<Ownership> {
    const map = await this.load();
    if (map === null) return NO_DATABASE;
    for (const candidate of mergedUsrAliases(path)) {
      const owned = map.get(candidate);
      if (owned) return owned;
    }
    return UNOWNED;
  }

  /** The first of the paths a package owns (a link and the file it leads to); else what the first path is. */
  async ownerOfAny(paths: string[]): Promise<Ownership> {
    let first: Ownership | undefined;
    for (const p of paths) {
      const o = await this.owner(p);
      if (o.kind === 'owned') return o;
      first ??= o;
    }
    return first ?? UNOWNED;
  }

  private load(): Promise<Map<string, Owned> | null> {
    this.owners ??= this.read();
    return this.owners;
  }

  private async read(): Promise<Map<string, Owned> | null> {
    const databases = await this.databases();
    if (databases.length === 0) return null;
    const map = new Map<string, Owned>();
    // One answer per package, shared by its files: a root records a few hundred thousand.
    const answers = new Map<string, Owned>();
    for (const db of databases) {
      for await (const file of db.files()) {
        const key = `${db.kind}\0${file.package}`;
        let owned = answers.get(key);
        if (!owned) answers.set(key, (owned = { kind: 'owned', package: file.package, manager: db.kind }));
        map.set(file.path, owned);
      }
    }
    return map;
  }
}
