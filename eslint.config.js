// ESLint rather than Biome: typescript-eslint's type-checked rules (no-floating-promises,
// no-misused-promises, await-thenable, no-unsafe-*) read the compiler's types, and a server made of
// async transactions, jobs and hooks is where a forgotten await or a promise passed as a callback
// does harm. Biome's linter does not use the type checker.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'web/dist/', 'web/dist.*/', 'dist/', 'coverage/', 'reports/', '.stryker-tmp/', '.strata/', '.strata-*/', 'tests/web/screenshots/', 'src/client/openapi.generated.ts'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', 'web/src/**/*.tsx'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
    rules: {
      // Async functions without an await are contracts here, not mistakes: Fastify plugins are
      // async so registration awaits them, the memory store implements the Promise-returning
      // CacheStore interface the Redis store needs, and `async` turns a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // The compiler's own convention (noUnusedParameters): a leading underscore marks a
      // parameter kept for its position, or a key destructured away from the rest.
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true,
      }],
      // A `let` read by a callback before its one assignment (a store and the listener that
      // resets it refer to each other) cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Migrations take Kysely<any> on purpose: they are frozen in time and must not follow the
    // generated row types as the schema moves on.
    files: ['src/migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests and chaos scenarios read HTTP and CLI output as parsed JSON (`response.json()` is `any`) and assert its
    // shape with expect(); typing each response would restate the route schemas the tests check.
    // The schema snapshot reads the database as migrations do, through Kysely<any>.
    files: ['tests/**/*.ts', 'chaos/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.mjs', '*.js', '*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // The dashboard: its .tsx views go through the same type-checked rules as the server (the
    // web/tsconfig.json project, found by projectService), and run in a browser.
    files: ['web/src/**/*.ts', 'web/src/**/*.tsx'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['src/web/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
);
