import type { HashLookup } from './hash-list.js';

/** No lists given: files are still hashed and their digests reported, nothing matches. */
export const EMPTY_HASH_LIST: HashLookup = {
  size: 0,
  userDigests: 0,
  algorithms: new Set(['md5', 'sha256']),
  lookup: () => undefined,
};
