// One mutation group per run: `npm run mutate -- <group>` (scripts/mutate.mjs) sets
// STRATA_MUTATION_GROUP, and each group keeps its own incremental file and reports.
import { groups } from './stryker/groups.mjs';

const name = process.env.STRATA_MUTATION_GROUP;
const group = groups[name];
if (!group) throw new Error(`STRATA_MUTATION_GROUP must name a group: ${Object.keys(groups).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'stryker/vitest.config.ts' },
  mutate: group.mutate,
  coverageAnalysis: 'perTest',
  // Two cores shared with other work: one test process at a time.
  concurrency: 1,
  timeoutMS: 20_000,
  timeoutFactor: 1.5,
  dryRunTimeoutMinutes: 20,
  // The default adds `// @ts-nocheck` to sandbox files, which the migrations' type checks reject.
  disableTypeChecks: false,
  // Static mutants (run while modules load) re-run every test of the group: a group may leave them
  // out of its score (reported as Ignored) when they would cost more than the time there is.
  ignoreStatic: group.ignoreStatic ?? false,
  incremental: true,
  incrementalFile: `reports/mutation/${name}/incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${name}/mutation.json` },
  // A run scoring under 80% fails: `npm run mutate` and CI's run of the touched files with it.
  thresholds: { high: 90, low: 80, break: 80 },
  tempDirName: `.stryker-tmp/${name}`,
  // Every group's sandbox, not only this one's: a run beside another group's would copy it whole.
  ignorePatterns: ['/.stryker-tmp'],
  cleanTempDir: true,
};
