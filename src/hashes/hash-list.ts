/**
 * The lookup the hash check asks: is this file's digest on one of the lists the user
 * gave with --hashes (or a bundled one)?
 */
export interface HashEntry {
  algorithm: 'md5' | 'sha1' | 'sha256';
  digest: string;
  /** The name the list gives, e.g. "Coinminer.Linux.XMRig". */
  name?: string;
  /** File size the list states (ClamAV .hdb), when given. */
  size?: number;
  /** The list it came from. */
  source: string;
}

export interface HashLookup {
  /** Number of digests loaded; 0 means the hash check only reports digests, never matches. */
  readonly size: number;
  /** Which algorithms any list uses, so files are hashed only with those (md5 and sha256 always). */
  readonly algorithms: ReadonlySet<'md5' | 'sha1' | 'sha256'>;
  lookup(digests: { md5?: string; sha1?: string; sha256?: string }, size?: number): HashEntry | undefined;
}
