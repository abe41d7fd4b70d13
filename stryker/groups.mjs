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
  // caching is two groups: as one, about 1,000 mutants would take hours on two shared cores.
  // processes.test.ts is in neither: it runs `strata serve` from dist/, not the mutated sources.
  // ignoreStatic: a static mutant re-runs all of its group's tests (hours for these groups); such
  // mutants are reported as Ignored and left out of the score.
  'caching-redis': {
    ignoreStatic: true,
    mutate: ['src/caching/redis-store.ts', 'src/caching/database-versions.ts'],
    // Nearly every test reaches these modules, so a surviving mutant re-runs them all: the slow fault
    // files (coherence 17 s, degrade 11 s, race 8 s) are left out, their rules on these modules stated
    // in backends.test.ts and files of their own; cache-versions.test.ts tests the feeds, not these.
    tests: [
      'tests/caching/backends.test.ts', 'tests/caching/instances.test.ts', 'tests/caching/database-versions.test.ts',
      'tests/caching/redis-keys.test.ts', 'tests/caching/redis-failures.test.ts', 'tests/caching/near-cache.test.ts',
      'tests/caching/redis-store-rules.test.ts', 'tests/caching/database-versions-sessions.test.ts',
      'tests/caching/redis-store-guards.test.ts',
    ],
  },
  'caching-core': {
    ignoreStatic: true,
    mutate: [
      'src/caching/api-cache.ts', 'src/caching/index.ts', 'src/caching/invalidation.ts', 'src/caching/keys.ts',
      'src/caching/memory-store.ts', 'src/caching/metrics.ts', 'src/caching/query-cache.ts', 'src/caching/read-through.ts',
      'src/caching/session-cache.ts', 'src/caching/store.ts',
    ],
    // Not coherence.test.ts nor degrade.test.ts: Redis and feed faults (caching-redis's rules), whose
    // waits every surviving mutant here would re-run.
    tests: [
      'tests/caching/api-cache.test.ts', 'tests/caching/backends.test.ts', 'tests/caching/key-administration.test.ts',
      'tests/caching/metrics.test.ts', 'tests/caching/query-cache.test.ts', 'tests/caching/race.test.ts',
      'tests/caching/session-cache.test.ts', 'tests/caching/redis-keys.test.ts', 'tests/api/cache-stats.test.ts',
      'tests/caching/near-cache.test.ts', 'tests/caching/keys.test.ts', 'tests/caching/store.test.ts',
      'tests/caching/memory-store.test.ts', 'tests/caching/cache-metrics.test.ts', 'tests/caching/read-path.test.ts',
      'tests/caching/cache-assembly.test.ts', 'tests/caching/api-cache-rules.test.ts',
    ],
  },
  // The version feed that tells every server of a write: judged by the tests that fault it.
  'caching-feeds': {
    ignoreStatic: true,
    mutate: ['src/caching/notify-feed.ts', 'src/caching/version-feed.ts'],
    tests: [
      'tests/caching/cache-versions.test.ts', 'tests/caching/coherence.test.ts', 'tests/caching/degrade.test.ts',
      'tests/caching/database-versions.test.ts', 'tests/caching/notify-feed.test.ts',
    ],
  },
  // The cluster's feed polls every node's catalog (pg_dist_node): it runs only against a Citus
  // coordinator, given in STRATA_MUTATION_CLUSTER_URL (scripts/mutate.mjs skips the group without).
  'caching-poll': {
    ignoreStatic: true,
    cluster: true,
    mutate: ['src/caching/poll-feed.ts'],
    tests: [
      'tests/caching/poll-feed.test.ts', 'tests/caching/cache-versions.test.ts', 'tests/caching/coherence.test.ts',
      'tests/caching/database-versions.test.ts',
    ],
  },
  db: {
    mutate: ['src/db/tenant.ts', 'src/db/tenant-read.ts', 'src/db/copy.ts', 'src/db/activity-partitions.ts'],
    // Not embedded.test.ts (it starts PostgreSQL servers of its own, minutes per run, and uses none
    // of these modules) nor config/runtime.test.ts (settings and start-up, not these modules' rules).
    tests: [
      'tests/db/tenant-isolation.test.ts', 'tests/db/tenant-read.test.ts', 'tests/db/copy.test.ts',
      'tests/db/activity-partitions.test.ts', 'tests/db/prepared.test.ts', 'tests/db/query-counter.test.ts',
      'tests/db/compile-only.test.ts', 'tests/db/tenant-scope.test.ts', 'tests/db/batch-insert.test.ts', 'tests/cli/activity-prune.test.ts',
    ],
  },
  // etl is three groups: the run, its loads, and the stages it feeds them through. Every ETL test runs
  // the pipeline, so each keeps them all. Static mutants are ignored, as for the repositories.
  'etl-pipeline': {
    mutate: ['src/etl/user-analytics/pipeline.ts'],
    tests: ['tests/etl/**/*.test.ts'],
    ignoreStatic: true,
  },
  'etl-loaders': {
    mutate: ['src/etl/user-analytics/loaders.ts', 'src/etl/user-analytics/schedulers.ts'],
    tests: ['tests/etl/**/*.test.ts'],
    ignoreStatic: true,
  },
  'etl-stages': {
    mutate: ['src/etl/user-analytics/extractors.ts', 'src/etl/user-analytics/transformers.ts', 'src/etl/user-analytics/validators.ts'],
    tests: ['tests/etl/**/*.test.ts'],
    ignoreStatic: true,
  },
  services: {
    mutate: ['src/services/**/*.ts'],
    tests: [
      'tests/services/**/*.test.ts', 'tests/api/api-keys.test.ts', 'tests/api/auth.test.ts', 'tests/api/tenants.test.ts',
      'tests/api/idempotency-retention.test.ts',
      'tests/api/products.test.ts', 'tests/cli/activity-prune.test.ts', 'tests/cli/keys.test.ts', 'tests/etl/backfill-and-reports.test.ts',
    ],
  },
  // repositories is three groups, each with the tests that reach its modules: as one, its 1,390
  // mutants would take hours. Static mutants are ignored: 72 of them, each re-running every test.
  'repositories-tenancy': {
    mutate: [
      'src/repositories/tenant-repository.ts', 'src/repositories/organization-repository.ts',
      'src/repositories/project-repository.ts', 'src/repositories/member-list.ts', 'src/repositories/user-repository.ts',
    ],
    tests: [
      'tests/repositories/organization-repository.test.ts', 'tests/repositories/project-repository.test.ts',
      'tests/repositories/user-repository.test.ts', 'tests/repositories/tenant-repository.test.ts',
      'tests/repositories/not-found-messages.test.ts', 'tests/repositories/single-row-writes.test.ts', 'tests/api/tenants.test.ts',
    ],
    ignoreStatic: true,
  },
  'repositories-records': {
    mutate: [
      'src/repositories/activity-repository.ts', 'src/repositories/event-repository.ts', 'src/repositories/product-repository.ts',
      'src/repositories/inventory-repository.ts', 'src/repositories/audit-repository.ts', 'src/repositories/api-key-repository.ts',
      'src/repositories/credential-repository.ts', 'src/repositories/idempotency-key-repository.ts',
    ],
    tests: [
      'tests/repositories/activity-*.test.ts', 'tests/repositories/audit-repository.test.ts', 'tests/repositories/event-repository.test.ts',
      'tests/repositories/inventory-repository.test.ts', 'tests/repositories/key-repositories.test.ts',
      'tests/repositories/product-repository.test.ts', 'tests/repositories/stock-and-key-refusals.test.ts',
      'tests/repositories/record-statements.test.ts',
    ],
    ignoreStatic: true,
  },
  'repositories-analytics': {
    mutate: [
      'src/repositories/analytics-repository.ts', 'src/repositories/etl-run-repository.ts', 'src/repositories/pipeline-watermark.ts',
      'src/repositories/active-user-counts.ts',
    ],
    tests: [
      'tests/repositories/analytics-*.test.ts', 'tests/repositories/active-user-counts.test.ts', 'tests/etl/active-user-counts.test.ts', 'tests/api/analytics.test.ts', 'tests/api/etl-runs*.test.ts',
      'tests/etl/pipeline.test.ts', 'tests/etl/exactness.test.ts', 'tests/etl/backfill-and-reports.test.ts',
    ],
    ignoreStatic: true,
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
