import { defineConfig } from 'vitest/config';

// Two projects, so a developer gets a fast answer and the slow tier runs on its own:
// - unit: no root, no loop devices, no debootstrap, no disk images built with the real
//   tools (`npm run test:unit`, under a minute on two cores);
// - image: the tests that read the shared fixtures (the debootstrapped Debian root, the
//   PHP corpus, the detection corpus), which its global setup builds once per run before
//   any worker starts; those that need root (chattr +i, loop devices, mounts, lvm2); and
//   those that build disk images and databases with the real tools (mkfs, qemu-img,
//   sgdisk, rpm), which take most of the suite's time.
// A test file that starts reading a shared fixture, needs root or builds images goes here.
const IMAGE_TESTS = [
  'test/scan/**/*.test.ts',
  'test/mountfs/**/*.test.ts',
  'test/cloud/**/*.test.ts',
  'test/cli.test.ts',
  'test/shutdown.test.ts',
  // Disks built with qemu-img, tar and zip, scans traced with strace, FIFOs and device nodes (mknod needs root).
  'test/hostile-disks.test.ts',
  'test/hostile-classes.test.ts',
  'test/facts/rpm-db.test.ts',
  'test/facts/package-commands-rpm.test.ts',
  // qemu-img.
  'test/engine/unreadable-report.test.ts',
  // The Debian root, the PHP corpus.
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
  // Inode flags (chattr +i needs root).
  'test/checks/accounts-keys-preload.test.ts',
  'test/checks/ld-preload.test.ts',
  'test/checks/ssh-keys.test.ts',
  'test/checks/immutable-files-places.test.ts',
  // The detection corpus.
  'test/report/corpus-outputs.test.ts',
  'test/report/ignore-diff.test.ts',
  // Disk images built for a fake AWS fleet.
  'test/report/fleet-outputs.test.ts',
  // A GPT disk with an NTFS Windows root written through ntfs-3g, sgdisk, qemu-img.
  'test/windows/ntfs-windows-disk.test.ts',
];

// Image-building tests spawn mkfs/sgdisk and are I/O bound; two workers fit the 2-core machines CI uses.
// In CI a JSON summary is written too, so .ci/run can print one closing "N passed, N failed" line.
export default defineConfig({
  test: {
    // Timeouts only catch hangs: a loaded 2-core machine stretches an image-building test
    // several-fold, and what a test must not exceed is bounded by counts, not the clock.
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: process.env.CI ? { json: 'test-results.json' } : undefined,
    projects: [
      {
        extends: true,
        // Files share their worker's loaded modules (no unit test mocks or stubs one): the engine
        // and the rule packs are imported once per worker, not once per file, which halves the run.
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: IMAGE_TESTS, isolate: false },
      },
      {
        extends: true,
        test: { name: 'image', include: IMAGE_TESTS, globalSetup: ['test/helpers/shared-fixtures.ts'] },
      },
    ],
  },
});
