import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { ensureFreshBuild, root } from '../helpers/fresh-build.js';

const run = promisify(execFile);
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, timeout: 120_000 });

/** A Node service's use of Strata, through the package's public entry point only. */
const consumer = `
import { ActivityRepository, StrataError, activityBatchOf, UserRepository, createTenantWithKey, openDatabase, pipelineStatus, withTenant, type TenantTx } from 'strata';

const database = openDatabase(process.env.DATABASE_URL!);
const { tenant } = await createTenantWithKey(database, { name: 'Library', slug: 'library' });
const { tenant: other } = await createTenantWithKey(database, { name: 'Other', slug: 'other' });
const user = await withTenant(database, { tenantId: tenant.id }, (trx: TenantTx) =>
  new UserRepository(trx).create({ email: 'ada@library.io', username: 'ada' }));
const ingested = await withTenant(database, { tenantId: tenant.id }, (trx) =>
  new ActivityRepository(trx).insertBatch(activityBatchOf([{ user_id: user.id, activity_type: 'login' }])));
const fromOtherTenant = await withTenant(database, { tenantId: other.id }, (trx) => new UserRepository(trx).getById(user.id))
  .then(() => 'found', (error: unknown) => (error instanceof StrataError ? error.code : String(error)));
const status = await pipelineStatus(database);
const internalPath: string = 'strata/dist/api/app.js';
const internals = await import(internalPath).then(() => 'importable', (error: { code?: string }) => error.code);
// The types are the package's own, not \`any\`: a scope without a tenant does not compile.
// @ts-expect-error tenantId is required
void (() => withTenant(database, {}, async () => undefined));
console.log(JSON.stringify({ userId: user.id, inserted: ingested.inserted, fromOtherTenant, pending: status.pending.user_activity, internals }));
await database.close();
`;

/** A browser's or another service's use of the typed client, from the same package. */
const clientConsumer = `
import { createStrataClient, StrataApiError, unwrap, type StrataErrorCode } from 'strata/client';

const client = createStrataClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'strata_1_secret' });

export async function username(id: number): Promise<string> {
  const { data, error } = await client.GET('/v1/users/{id}', { params: { path: { id: String(id) } } });
  if (error) return error.error.code satisfies StrataErrorCode;
  return data.data.username;
}

export async function revoke(id: number): Promise<string> {
  const { error } = await client.DELETE('/v1/api-keys/{id}', { params: { path: { id: String(id) } } });
  // @ts-expect-error CONFLICT is not among the codes revoking a key can answer
  if (error?.error.code === 'CONFLICT') return 'never';
  return error?.error.code ?? 'revoked';
}

export const created = () => unwrap(client.POST('/v1/users', { body: { email: 'ada@acme.io', username: 'ada' } })).then((body) => body.data.id);
// @ts-expect-error no such path
export const nowhere = () => client.GET('/v1/nowhere');
console.log(JSON.stringify({ client: typeof client.GET, error: new StrataApiError(404, undefined).message }));
`;

let database: TestDatabase;
let scratch: string;

beforeAll(async () => {
  database = await migratedDatabase();
  scratch = await mkdtemp(join(tmpdir(), 'strata-consumer-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('Strata as a library', () => {
  // About 20 s on an idle 2-core machine: pack 2 s, install from the cache 8 s, tsc 5 s.
  it('packs, installs into another project from the npm cache, type-checks and runs the data layer and the typed client there', async () => {
    await ensureFreshBuild();
    const packed = join(scratch, 'packed');
    await mkdir(packed);
    await npm(['pack', '--ignore-scripts', '--pack-destination', packed], root);
    const [tarball] = await readdir(packed);
    const project = join(scratch, 'service');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'service', private: true, type: 'module' }));
    // Everything comes from the npm cache this project's own install filled.
    await npm(['install', '--prefer-offline', '--ignore-scripts', join(packed, tarball!), '@types/node@20.19.43'], project);
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
      // skipLibCheck: checking every dependency's declarations takes four times as long, and the
      // consumer's expected type error already fails if Strata's types resolve to nothing.
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: ['node'] },
      files: ['consumer.ts', 'client-consumer.ts'],
    }));
    await writeFile(join(project, 'consumer.ts'), consumer);
    await writeFile(join(project, 'client-consumer.ts'), clientConsumer);
    await run(process.execPath, [tsc, '-p', project], { cwd: project, timeout: 60_000 }).catch((error: { stdout: string }) => {
      throw new Error(`the consumer does not type-check against the packed types:\n${error.stdout}`);
    });
    const { stdout } = await run(process.execPath, ['consumer.js'], { cwd: project, env: { ...process.env, DATABASE_URL: database.url }, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({ userId: expect.any(Number), inserted: 1, fromOtherTenant: 'NOT_FOUND', pending: 1, internals: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
    const client = await run(process.execPath, ['client-consumer.js'], { cwd: project, timeout: 30_000 });
    expect(JSON.parse(client.stdout)).toEqual({ client: 'function', error: 'HTTP 404' });
    const rows = await database.admin.selectFrom('user_activity').innerJoin('tenant', 'tenant.id', 'user_activity.tenant_id')
      .select(['tenant.slug', 'user_activity.activity_type']).execute();
    expect(rows).toEqual([{ slug: 'library', activity_type: 'login' }]);
  }, 180_000);
});
