/**
 * Digests of one packaged file, in the algorithms its package database recorded (dpkg:
 * MD5; RPM: mostly SHA-256), streamed in one pass and never held whole. Sources that
 * can be read only once computed MD5 and SHA-256 while the bytes went past
 * (vfs.knownDigests): those are taken when they cover what is asked.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Vfs } from '../../mountfs/vfs.js';
import type { PackageDigestAlgorithm } from '../facts/package-db.js';

/** The biggest packaged programs and libraries are a few hundred MiB (libLLVM, chromium). */
export const MAX_VERIFY_BYTES = 512 * 1024 * 1024;

export type Digests = Partial<Record<PackageDigestAlgorithm, string>>;

export type VerifyHash =
  | { kind: 'hashed'; digests: Digests; bytesRead: number }
  | { kind: 'too-large'; size: number };

/**
 * Hashes the regular file the path names (symlinks followed inside the root). `size`
 * is the walk's stat of a regular file, so the file is not looked up once more for it.
 */
export async function digestsOf(vfs: Vfs, path: string, algorithms: ReadonlySet<PackageDigestAlgorithm>, size?: number): Promise<VerifyHash> {
  const known = await vfs.knownDigests(path);
  if (known && [...algorithms].every((a) => a === 'md5' || a === 'sha256')) {
    return { kind: 'hashed', digests: { md5: known.md5, sha256: known.sha256 }, bytesRead: 0 };
  }
  const knownSize = size ?? (await vfs.stat(path)).size;
  if (knownSize > MAX_VERIFY_BYTES) return { kind: 'too-large', size: knownSize };
  const hashes = [...algorithms].map((a): [PackageDigestAlgorithm, Hash] => [a, createHash(a)]);
  let bytesRead = 0;
  // Bounded again here: a damaged size field must not make the stream run on.
  for await (const chunk of vfs.createReadStream(path, { end: MAX_VERIFY_BYTES + 1 }) as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    if (bytesRead > MAX_VERIFY_BYTES) return { kind: 'too-large', size: bytesRead };
    for (const [, h] of hashes) h.update(chunk);
  }
  const digests: Digests = {};
  for (const [a, h] of hashes) digests[a] = h.digest('hex');
  return { kind: 'hashed', digests, bytesRead };
}
