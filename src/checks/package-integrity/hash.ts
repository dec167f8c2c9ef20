/**
 * Digests of one packaged file, in the algorithms its package database recorded (dpkg:
 * MD5; RPM: mostly SHA-256), streamed in one pass by src/hashes/hash-file.ts and never
 * held whole. Sources that can be read only once computed MD5 and SHA-256 while the
 * bytes went past (vfs.knownDigests): those are taken when they cover what is asked.
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import type { PackageDigestAlgorithm } from '../../facts/package-db.js';
import { streamDigests, type StreamedDigests } from '../../hashes/hash-file.js';

/** The biggest packaged programs and libraries are a few hundred MiB (libLLVM, chromium). */
export const MAX_VERIFY_BYTES = 512 * 1024 * 1024;

/**
 * Hashes the regular file the path names (symlinks followed inside the root). `size`
 * is the walk's stat of a regular file, so the file is not looked up once more for it.
 */
export async function digestsOf(vfs: Vfs, path: string, algorithms: ReadonlySet<PackageDigestAlgorithm>, size?: number): Promise<StreamedDigests> {
  const known = await vfs.knownDigests(path);
  if (known && [...algorithms].every((a) => a === 'md5' || a === 'sha256')) {
    return { kind: 'hashed', digests: { md5: known.md5, sha256: known.sha256 }, bytesRead: 0 };
  }
  const knownSize = size ?? (await vfs.stat(path)).size;
  if (knownSize > MAX_VERIFY_BYTES) return { kind: 'too-large', size: knownSize };
  return streamDigests(vfs, path, algorithms, MAX_VERIFY_BYTES);
}
