import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['tests/helpers/global-setup.ts'],
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/db/schema.generated.ts', 'src/client/openapi.generated.ts', 'src/cli/main.ts'],
      reporter: ['text', 'json'],
      // CI keeps each run's report apart and holds their union to 90% of lines and branches
      // (scripts/check-coverage.mjs): some code runs only on a Citus cluster.
      reportsDirectory: process.env.STRATA_COVERAGE_DIR ?? 'coverage',
    },
  },
});
