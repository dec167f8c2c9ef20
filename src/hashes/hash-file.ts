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
/** Every algorithm a hash list or a package database records a digest in. */
export type DigestAlgorithm = 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
/** Hex digests of one file, by algorithm. */
export type Digests = Partial<Record<DigestAlgorithm, string>>;
/** What the hash check always has: MD5 and SHA-256, the two single-pass sources compute as the bytes go past. */
export type FileDigests = Digests & { md5: string; sha256: string };

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
  const algorithms = new Set<DigestAlgorithm>(['md5', 'sha256']);
  if (options.algorithms?.has('sha1')) algorithms.add('sha1');
  const streamed = await streamDigests(vfs, path, algorithms, maxBytes);
  if (streamed.kind === 'too-large') return streamed;
  const { md5, sha256, ...others } = streamed.digests;
  return { kind: 'hashed', size: streamed.bytesRead, digests: { md5: md5!, sha256: sha256!, ...others } };
}

export type StreamedDigests = { kind: 'hashed'; digests: Digests; bytesRead: number } | { kind: 'too-large'; size: number };

/**
 * The one pass every digest of minescan is computed in: the file streamed once, every
 * algorithm fed the same chunk, never held whole. The bound also holds if the stream
 * gives more than stat promised (a damaged size field).
 */
export async function streamDigests(vfs: Vfs, path: string, algorithms: Iterable<DigestAlgorithm>, maxBytes: number): Promise<StreamedDigests> {
  const hashes = [...new Set(algorithms)].map((a): [DigestAlgorithm, Hash] => [a, createHash(a)]);
  let bytesRead = 0;
  for await (const chunk of vfs.createReadStream(path, { end: maxBytes + 1 }) as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    if (bytesRead > maxBytes) return { kind: 'too-large', size: bytesRead };
    for (const [, h] of hashes) h.update(chunk);
  }
  const digests: Digests = {};
  for (const [a, h] of hashes) digests[a] = h.digest('hex');
  return { kind: 'hashed', digests, bytesRead };
}
