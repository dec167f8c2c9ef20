/**
 * The one place that knows where minescan's tests keep what outlives a test run: the
 * debootstrapped Debian root and the unpacked PHP corpus take minutes to build, so they
 * are cached, by default under /var/tmp (not /tmp, which may be tmpfs: tmpfs keeps no
 * inode flags, and the corpus is hard-linked from the root, so both must share one
 * filesystem). MINESCAN_TEST_CACHE moves the cache; CI points it at an empty directory
 * to prove that a first run on a new machine passes.
 *
 * No vitest import here: the global setup (test/helpers/shared-fixtures.ts) and the
 * benchmark use it outside a test worker.
 */
import path from 'node:path';

export const TEST_CACHE = process.env.MINESCAN_TEST_CACHE || '/var/tmp';

/** A clean Debian bookworm root (images/build-debian-root.sh); complete when `${DEBIAN_ROOT}.complete` exists. */
export const DEBIAN_ROOT = path.join(TEST_CACHE, 'minescan-debian-root');

/** Real applications' PHP (images/build-php-corpus.sh); the tree is PHP_CORPUS/root. */
export const PHP_CORPUS = path.join(TEST_CACHE, 'minescan-php-corpus');

/** Held (flock) while the cached fixtures are built, so two runs on one machine never build them at once. */
export const FIXTURE_LOCK = path.join(TEST_CACHE, 'minescan-fixtures.lock');

/** Prefix of the directory a run keeps its own built fixtures in (the detection corpus), removed when the run ends. */
export const RUN_DIR_PREFIX = path.join(TEST_CACHE, 'minescan-run-');
