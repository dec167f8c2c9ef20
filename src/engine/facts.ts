/**
 * System facts several checks need, read from the scanned root once and shared:
 * the accounts, and which files an installed package owns.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { parsePasswd, parseShadow, type Parsed, type PasswdEntry, type ShadowEntry } from '../facts/passwd.js';
import { PackageOwnership } from '../facts/package-ownership.js';

const ACCOUNT_FILE_LIMIT = 4 << 20;

/** What the facts read, declared like a check's paths so single-pass sources keep them. */
export const FACT_PATHS = ['/etc/passwd', '/etc/shadow', ...PackageOwnership.paths];

export class Facts {
  private passwdP?: Promise<Parsed<PasswdEntry>>;
  private shadowP?: Promise<Parsed<ShadowEntry>>;
  readonly packages: PackageOwnership;

  constructor(
    private readonly vfs: Vfs,
    onError?: (path: string, err: unknown) => void,
  ) {
    this.packages = new PackageOwnership(vfs, onError);
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

  private async readText(path: string): Promise<string | undefined> {
    if (!(await this.vfs.exists(path))) return undefined;
    return (await this.vfs.readFile(path, { maxBytes: ACCOUNT_FILE_LIMIT })).toString('utf8');
  }
}
