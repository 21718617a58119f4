import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs backends are process-global singletons; forks isolate them per file.
    pool: 'forks',
    poolOptions: { forks: { singleFork: false } },
  },
});
