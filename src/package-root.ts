/**
 * Where minescan's package is installed. Data files (rule packs, pool and blocklist
 * templates, the bundled hash list) stay in src/ and are read from there by the built
 * CLI too, so code running from src/ (tests) and from dist/src/ (built) finds them the
 * same way: above itself, next to package.json.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot locate the minescan package root from ' + fileURLToPath(import.meta.url));
}
