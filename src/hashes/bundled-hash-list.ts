/**
 * Where minescan's bundled list of published miner hashes lives. It is data, like the
 * rule packs: it stays in src/ and is read from there by the built CLI too. Every
 * entry cites the public report it was copied from (the `cited` format of
 * hash-list-formats.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** How findings name the list (the source of each entry is its own column). */
export const BUNDLED_HASH_LIST_LABEL = "minescan's bundled miner-hashes.csv";

export function bundledHashListPath(): string {
  return path.join(packageRoot(), 'src/hashes/bundled/miner-hashes.csv');
}

function packageRoot(): string {
  // This file runs from src/hashes (tests) or dist/src/hashes (built).
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot locate the minescan package root from ' + fileURLToPath(import.meta.url));
}
