/**
 * The lookup the hash check asks: is this file's digest on one of the lists the user
 * gave with --hashes, or on the list of published miner hashes minescan bundles?
 */
export interface HashEntry {
  algorithm: 'md5' | 'sha1' | 'sha256';
  digest: string;
  /** The name the list gives, e.g. "Coinminer.Linux.XMRig" or MalwareBazaar's signature "XMRig". */
  name?: string;
  /** File size the list states (ClamAV .hdb), when given. */
  size?: number;
  /** The list it came from: a file path, or a description of the bundled list. */
  source: string;
  /** Where the digest was published (the bundled list cites a report per entry). */
  reference?: string;
}

export interface HashLookup {
  /** Number of digests loaded; 0 means the hash check only reports digests, never matches. */
  readonly size: number;
  /**
   * Digests from lists the user gave. Only they make the hash check hash every system
   * executable; the bundled list alone covers started files and the temporary
   * directories, so a default scan does not read every binary on the disk.
   */
  readonly userDigests: number;
  /** Which algorithms any list uses, so files are hashed only with those (md5 and sha256 always). */
  readonly algorithms: ReadonlySet<'md5' | 'sha1' | 'sha256'>;
  lookup(digests: { md5?: string; sha1?: string; sha256?: string }, size?: number): HashEntry | undefined;
}
