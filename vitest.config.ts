import { defineConfig } from 'vitest/config';

// Image-building tests spawn mkfs/sgdisk and are I/O bound; two workers fit the 2-core machines CI uses.
// In CI a JSON summary is written too, so .ci/run can print one closing "N passed, N failed" line.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: process.env.CI ? { json: 'test-results.json' } : undefined,
  },
});
