import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { createStrataClient, StrataApiError, unwrap } from '../../src/client/index.js';
import { testCli } from '../cli/cli-context.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { ensureFreshBuild, root } from '../helpers/fresh-build.js';

const run = promisify(execFile);
const adminKey = `strata_admin_${'C'.repeat(43)}`;

/**
 * examples/walkthrough.ts is the README's curl walk-through with the typed client. It imports
 * `strata/client` as a reader's code would (the package refers to itself through `exports`, so the
 * built dist/ and its types): a contract change that breaks it fails here, in type-checking or in
 * what it prints.
 */
describe('the typed client\'s walk-through (examples/walkthrough.ts)', () => {
  let database: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    await ensureFreshBuild();
    database = await migratedDatabase();
    server = await startServer(testCli(database, { PORT: '0', STRATA_ADMIN_KEY: adminKey }).context);
  }, 240_000);

  afterAll(() => server.close());

  it('type-checks against the client\'s generated types', async () => {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'examples')], { cwd: root, timeout: 120_000 })
      .catch((error: { stdout: string }) => { throw new Error(`examples/ do not type-check:\n${error.stdout}`); });
  }, 150_000);

  it('runs every step against a live server and prints what the answers said', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/walkthrough.ts'], {
      cwd: root, timeout: 60_000, env: { ...process.env, STRATA_URL: server.address, STRATA_ADMIN_KEY: adminKey, RUN: 'client-test' },
    });
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    expect(summary).toEqual({
      tenantId: expect.any(Number), usersFound: ['ada'], theme: 'dark', teamMemberRole: 'admin', projectOrganizationId: expect.any(Number),
      stock: 20, activitiesInserted: 1, activitiesFound: 1, productHistory: ['INSERT'], duplicateSlug: 'CONFLICT',
    });
    const tenant = await database.admin.selectFrom('tenant').select(['id']).where('slug', '=', 'acme-client-test').executeTakeFirstOrThrow();
    expect(tenant.id).toBe(summary.tenantId);
    const rows = await database.admin.selectFrom('user_activity').select(['activity_type']).where('tenant_id', '=', tenant.id).execute();
    expect(rows).toEqual([{ activity_type: 'login' }]);
  }, 90_000);

  it('sends the key it was given, and unwrap throws the error answer\'s status and code', async () => {
    const admin = createStrataClient({ baseUrl: `${server.address}/`, apiKey: adminKey });
    const { data } = await admin.GET('/v1/tenants', { params: { query: { limit: 1 } } });
    expect(data?.data).toHaveLength(1);
    const missing = await unwrap(admin.GET('/v1/tenants/{id}', { params: { path: { id: '2000000000' } } })).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(StrataApiError);
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND', message: expect.stringMatching(/^NOT_FOUND: /), details: [] });
    const stranger = createStrataClient({ baseUrl: server.address, apiKey: 'strata_admin_wrong' });
    const { error, response } = await stranger.GET('/v1/tenants');
    expect({ status: response.status, code: error?.error.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });
});
