/**
 * The shared fixtures, as test files read them. They are built once per run, before any
 * worker starts, by the image project's global setup (test/helpers/shared-fixtures.ts);
 * a test file only reads them. A file of the unit project that asks for one fails at
 * once with the reason, instead of reading a fixture nobody built.
 */
import { inject } from 'vitest';

export interface SharedFixtures {
  /** A clean debootstrapped Debian bookworm root (images/build-debian-root.sh). */
  debianRoot: string;
  /** Real applications' PHP behind an nginx site (images/build-php-corpus.sh): DIR/root is the tree. */
  phpCorpus: string;
  /** The detection corpus (images/build-corpus.sh): one directory per case of images/corpus/cases.json. */
  detectionCorpus: string;
}

declare module 'vitest' {
  export interface ProvidedContext extends SharedFixtures {}
}

export function fixture<K extends keyof SharedFixtures>(name: K): string {
  const dir = inject(name);
  if (!dir) throw new Error(`the shared fixture ${name} is built only for the image project's test files: list this file in vitest.config.ts's image project`);
  return dir;
}
