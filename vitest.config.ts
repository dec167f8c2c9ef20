import { defineConfig } from 'vitest/config';

// Two projects, so a developer gets a fast answer and the slow tier runs on its own:
// - unit: no root, no loop devices, no debootstrap (`npm run test:unit`, under a minute);
// - image: the tests that read the shared fixtures (the debootstrapped Debian root, the
//   PHP corpus, the detection corpus), which its global setup builds once per run before
//   any worker starts, and those that need root (chattr +i, loop devices, mounts).
// A test file that starts reading a shared fixture, or needs root, goes in IMAGE_TESTS.
const IMAGE_TESTS = [
  // The shared fixtures.
  'test/scan/debian-root.test.ts',
  'test/scan/corpus.test.ts',
  'test/checks/accounts.test.ts',
  'test/checks/config-places-debian.test.ts',
  'test/checks/cron.test.ts',
  'test/checks/immutable-files.test.ts',
  'test/checks/miner-files.test.ts',
  'test/checks/package-integrity.test.ts',
  'test/checks/persistence-places-debian.test.ts',
  'test/checks/services.test.ts',
  'test/checks/shell-startup.test.ts',
  'test/checks/started-scripts.test.ts',
  'test/checks/udev-rules.test.ts',
  'test/checks/webshells.test.ts',
  'test/mountfs/ext4.test.ts',
  // Root: inode flags (chattr), loop devices, mounts, lvm2.
  'test/checks/accounts-keys-preload.test.ts',
  'test/checks/ld-preload.test.ts',
  'test/checks/ssh-keys.test.ts',
  'test/mountfs/vfs.test.ts',
  'test/mountfs/xfs.test.ts',
  'test/mountfs/lvm.test.ts',
  'test/mountfs/sources.test.ts',
  'test/scan/planted.test.ts',
];

// Image-building tests spawn mkfs/sgdisk and are I/O bound; two workers fit the 2-core machines CI uses.
// In CI a JSON summary is written too, so .ci/run can print one closing "N passed, N failed" line.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: process.env.CI ? { json: 'test-results.json' } : undefined,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: IMAGE_TESTS },
      },
      {
        extends: true,
        test: { name: 'image', include: IMAGE_TESTS, globalSetup: ['test/helpers/shared-fixtures.ts'] },
      },
    ],
  },
});
