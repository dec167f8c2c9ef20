/**
 * Where minescan's bundled list of published miner hashes lives. It is data, like the
 * rule packs: it stays in src/ and is read from there by the built CLI too. Every
 * entry cites the public report it was copied from (the `cited` format of
 * hash-list-formats.ts).
 */
import path from 'node:path';
import { packageRoot } from '../package-root.js';

/** How findings name the list (the source of each entry is its own column). */
export const BUNDLED_HASH_LIST_LABEL = "minescan's bundled miner-hashes.csv";

export function bundledHashListPath(): string {
  return path.join(packageRoot(), 'src/hashes/bundled/miner-hashes.csv');
}
