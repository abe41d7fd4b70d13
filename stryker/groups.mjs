/**
 * Mutation-testing groups: the source files each group mutates and the test files that judge them.
 * Each group runs with only its own tests (stryker/vitest.config.ts reads them from the
 * environment): a static mutant, one that runs while modules load, re-runs every test of its run,
 * so an unnarrowed run costs 7–28 s per mutant against 0.7–7 s narrowed.
 */
export const groups = {
  errors: {
    mutate: ['src/errors.ts'],
    tests: ['tests/errors/**/*.test.ts', 'tests/api/constraint-details.test.ts'],
  },
  auth: {
    mutate: ['src/api/auth.ts'],
    tests: ['tests/api/auth*.test.ts', 'tests/api/api-keys.test.ts', 'tests/api/health.test.ts'],
  },
  caching: {
    mutate: ['src/caching/**/*.ts'],
    tests: ['tests/caching/**/*.test.ts'],
  },
  db: {
    mutate: ['src/db/tenant.ts', 'src/db/tenant-read.ts', 'src/db/copy.ts', 'src/db/activity-partitions.ts'],
    tests: ['tests/db/**/*.test.ts'],
  },
  etl: {
    mutate: ['src/etl/**/*.ts'],
    tests: ['tests/etl/**/*.test.ts'],
  },
  services: {
    mutate: ['src/services/**/*.ts'],
    tests: ['tests/services/**/*.test.ts', 'tests/api/api-keys.test.ts', 'tests/api/tenants.test.ts', 'tests/api/idempotency-retention.test.ts', 'tests/cli/activity-prune.test.ts', 'tests/cli/keys.test.ts'],
  },
  repositories: {
    mutate: ['src/repositories/**/*.ts'],
    tests: ['tests/repositories/**/*.test.ts'],
  },
};

/** The group whose `mutate` list names this source file, or undefined. */
export function groupOf(file) {
  return Object.keys(groups).find((name) => groups[name].mutate.some((pattern) => matches(file, pattern)));
}

function matches(file, pattern) {
  if (!pattern.includes('*')) return file === pattern;
  const prefix = pattern.slice(0, pattern.indexOf('*'));
  return file.startsWith(prefix) && file.endsWith('.ts');
}
