/**
 * The image project's global setup: builds the fixtures several test files read, once
 * per run and before any worker starts, so no two files build one fixture at the same
 * time and no file reads a fixture that is still being written.
 *
 * - The Debian root and the PHP corpus take minutes (debootstrap, apt-get download) and
 *   are cached (test/helpers/test-cache.ts). Each is built under its own lock file
 *   (flock(1): the kernel drops the lock when the holder dies, so a killed run leaves no
 *   stale lock), so two runs on one machine wait for each other instead of one deleting
 *   what the other writes. The scripts reuse a fixture their marker says is complete.
 * - The detection corpus is hard-linked from the root in a second or so per case; each
 *   run builds its own, in a directory of its own that is removed when the run ends, so
 *   a change to images/build-corpus.sh is always what the corpus test scans.
 *
 * Test files get the paths with fixture() (test/helpers/fixtures.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { IMAGES, removeScratchDir } from './images.js';
import { DEBIAN_ROOT, PHP_CORPUS, RUN_DIR_PREFIX, TEST_CACHE } from './test-cache.js';

const run = promisify(execFile);

/** Runs an images/ script that builds a cached fixture, holding the fixture's lock. */
async function buildLocked(script: string, dir: string): Promise<void> {
  const started = Date.now();
  try {
    await run('flock', [`${dir}.lock`, path.join(IMAGES, script), dir], { maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`images/${script} ${dir} failed: ${e.stderr?.trim() || e.message}`);
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  if (seconds > 5) process.stderr.write(`shared fixtures: ${dir} built by images/${script} in ${seconds} s\n`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await mkdir(TEST_CACHE, { recursive: true });
  await Promise.all([buildLocked('build-debian-root.sh', DEBIAN_ROOT), buildLocked('build-php-corpus.sh', PHP_CORPUS)]);

  const runDir = await mkdtemp(RUN_DIR_PREFIX);
  const corpus = path.join(runDir, 'corpus');
  const cases: { name: string }[] = JSON.parse(await readFile(path.join(IMAGES, 'corpus/cases.json'), 'utf8')).cases;
  try {
    await run(path.join(IMAGES, 'build-corpus.sh'), [DEBIAN_ROOT, corpus, ...cases.map((c) => c.name)], { maxBuffer: 64 << 20 });
  } catch (err) {
    await removeScratchDir(runDir);
    throw err;
  }

  project.provide('debianRoot', DEBIAN_ROOT);
  project.provide('phpCorpus', PHP_CORPUS);
  project.provide('detectionCorpus', corpus);
  return () => removeScratchDir(runDir);
}
