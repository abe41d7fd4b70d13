import base from '../vitest.config.js';

/**
 * The test run of one mutation group: the project's configuration with `include` narrowed to the
 * group's test files (STRATA_MUTATION_TESTS, comma-separated globs). Narrowing with Stryker's
 * `--testFiles` instead leaves module-level mutants switched on only after the modules load, so
 * no test could kill them. (Not vite's mergeConfig: it would append to `include`, not replace it.)
 */
const include = (process.env.STRATA_MUTATION_TESTS ?? '').split(',').filter(Boolean);
if (include.length === 0) throw new Error('STRATA_MUTATION_TESTS names no test files: run `npm run mutate -- <group>`');

// hook-coverage.ts credits what a file's `beforeAll` reaches to that file's tests (see there).
export default { ...base, test: { ...base.test, include, setupFiles: ['stryker/hook-coverage.ts'] } };
