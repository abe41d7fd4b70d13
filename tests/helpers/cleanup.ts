import { afterAll } from 'vitest';

// Vitest ignores an afterAll registered while a beforeAll runs, which is where test files open
// their databases and apps; this module's hook is registered when a test file imports it.
const cleanups: Array<() => unknown> = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `cleanup` after the importing test file's last test, newest first. */
export function atFileEnd(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}
