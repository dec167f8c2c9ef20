/**
 * A temporary directory of small host files for the tests of one describe block, made
 * before them and removed after them: for readers that take host paths (hash lists),
 * where a planted root would be more than the test needs.
 */
import { afterAll, beforeAll } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TempFiles {
  /** The directory; known once the block's tests run. */
  readonly dir: string;
  /** Writes one file into the directory and returns its path. */
  write(name: string, text: string | Buffer): Promise<string>;
}

export function useTempFiles(prefix: string): TempFiles {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    async write(name, text) {
      const file = path.join(dir, name);
      await writeFile(file, text);
      return file;
    },
  };
}
