/**
 * Digests of one file inside the scanned root, computed in a single streaming pass
 * (every algorithm fed the same chunk), so a big binary is read once and never held in
 * memory. Sources that can be read only once computed MD5 and SHA-256 while the bytes
 * streamed past (vfs.knownDigests): those are taken as they are. Files over the size
 * bound are not read at all: the caller reports the skip.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Vfs } from '../../mountfs/vfs.js';
import type { HashEntry } from './hash-list.js';

/** Miner binaries are a few MiB; anything this big is not worth reading for a digest. */
export const MAX_HASH_BYTES = 256 * 1024 * 1024;

export type HashAlgorithm = HashEntry['algorithm'];

export interface FileDigests {
  md5: string;
  sha256: string;
  sha1?: string;
}

export type HashResult =
  | { kind: 'hashed'; size: number; digests: FileDigests }
  | { kind: 'too-large'; size: number };

export interface HashFileOptions {
  /** md5 and sha256 are always computed; add sha1 when a list uses it. */
  algorithms?: ReadonlySet<HashAlgorithm>;
  maxBytes?: number;
}

/** Hashes a regular file (symlinks followed inside the root); throws when it cannot be read. */
export async function hashVfsFile(vfs: Vfs, path: string, options: HashFileOptions = {}): Promise<HashResult> {
  const maxBytes = options.maxBytes ?? MAX_HASH_BYTES;
  const st = await vfs.stat(path);
  if (st.type !== 'file') throw new Error(`${path} is not a regular file (${st.type})`);
  const known = await vfs.knownDigests(path);
  if (known) return { kind: 'hashed', size: st.size, digests: { md5: known.md5, sha256: known.sha256 } };
  if (st.size > maxBytes) return { kind: 'too-large', size: st.size };
  const hashes: Partial<Record<HashAlgorithm, Hash>> = { md5: createHash('md5'), sha256: createHash('sha256') };
  if (options.algorithms?.has('sha1')) hashes.sha1 = createHash('sha1');
  let size = 0;
  // The bound also holds if the stream gives more than stat promised (a damaged size field).
  for await (const chunk of vfs.createReadStream(path, { end: maxBytes + 1 }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return { kind: 'too-large', size };
    for (const h of Object.values(hashes)) h.update(chunk);
  }
  const digests: FileDigests = { md5: hashes.md5!.digest('hex'), sha256: hashes.sha256!.digest('hex') };
  if (hashes.sha1) digests.sha1 = hashes.sha1.digest('hex');
  return { kind: 'hashed', size, digests };
}
