import { defineConfig } from 'vitest/config';

// Image-building tests spawn mkfs/sgdisk and are I/O bound; two workers fit the 2-core machines CI uses.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
