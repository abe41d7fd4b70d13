import { beforeAll, beforeEach, inject } from 'vitest';

/**
 * A vitest setup file for mutation runs only (stryker/vitest.config.ts adds it after Stryker's own).
 *
 * Stryker records which tests reach each mutant while a test is current, from the test's
 * `beforeEach` to its `afterEach`. Code run by a file's `beforeAll` (an app, a cache or a pool built
 * once per file) runs while no test is current, so Stryker counts it as static: with `ignoreStatic`
 * it never runs that file's tests against such a mutant, though every one of them depends on it,
 * and a mutant that switches off the response cache survives while five tests would fail.
 *
 * So, during the dry run that measures coverage, whatever a file's `beforeAll` hooks reached is
 * credited to each test of that file (one run later, to the tests after a nested `describe`'s hook:
 * more tests than needed at worst, never fewer). Module loading, before the first hook, stays
 * static. During mutant runs this file does nothing: the mutant is switched on in Stryker's own
 * `beforeAll`, before the file's hooks, so the credited tests run against it.
 */
interface Coverage { static: Record<string, number>; perTest: Record<string, Record<string, number>> }
interface Namespace { mutantCoverage?: Coverage; currentTestId?: string }

// Stryker's runner provides these values; vitest's `inject` is typed for the project's own keys.
const provided = inject as unknown as (key: 'globalNamespace' | 'mode') => string | undefined;

if (provided('mode') === 'dry-run') {
  const namespaceName = provided('globalNamespace') ?? '__stryker__';
  const namespace = (): Namespace => (Reflect.get(globalThis, namespaceName) ?? {}) as Namespace;
  const staticCounts = (): Record<string, number> => ({ ...namespace().mutantCoverage?.static });

  let seen: Record<string, number> = {};
  const fromHooks: Record<string, number> = {};

  beforeAll(() => {
    seen = staticCounts();
  });

  beforeEach(() => {
    const now = staticCounts();
    for (const [mutant, count] of Object.entries(now)) {
      if (count > (seen[mutant] ?? 0)) fromHooks[mutant] = 1;
    }
    seen = now;
    const { mutantCoverage, currentTestId } = namespace();
    if (!mutantCoverage || !currentTestId) return;
    const test = (mutantCoverage.perTest[currentTestId] ??= {});
    for (const mutant of Object.keys(fromHooks)) test[mutant] = (test[mutant] ?? 0) + 1;
  });
}
