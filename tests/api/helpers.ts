import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { ensureAdminKey, generateAdminKey } from '../../src/services/api-keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { conformToDocument } from './support/conformance.js';

export interface TestApi {
  app: FastifyInstance;
  database: TestDatabase;
  adminKey: string;
  /** Creates a tenant through the API and returns its id and first key. */
  tenant(name?: string): Promise<{ id: number; key: string }>;
  call(method: string, url: string, key: string | null, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

/** `env` overrides the configuration's defaults (e.g. a small RATE_LIMIT_PER_MINUTE). */
export async function testApi(env: Record<string, string> = {}): Promise<TestApi> {
  const database = await migratedDatabase();
  const adminKey = generateAdminKey();
  await ensureAdminKey(database.admin, adminKey);
  const app = await buildApp({ database, config: loadConfig(env) });
  atFileEnd(() => app.close());
  conformToDocument(app);
  const call: TestApi['call'] = (method, url, key, body, headers = {}) => app.inject({
    method: method as 'GET',
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
  return {
    app,
    database,
    adminKey,
    call,
    async tenant(name = 'Tenant') {
      const slug = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${randomBytes(3).toString('hex')}`;
      const response = await call('POST', '/v1/tenants', adminKey, { name, slug });
      if (response.statusCode !== 201) throw new Error(`tenant creation failed: ${response.body}`);
      const body = response.json();
      return { id: body.data.tenant.id, key: body.data.apiKey.key };
    },
  };
}
