import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { authPlugin, bearer, callerTenant, publicByDefault } from '../../src/api/auth.js';
import { registerErrorHandling } from '../../src/api/errors.js';
import { ensureAdminKey, generateAdminKey, type Principal } from '../../src/services/api-keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

const keys: Record<string, Principal> = {
  admin: { kind: 'admin', keyId: 1 },
  writer: { kind: 'tenant', tenantId: 7, keyId: 70, readOnly: false },
  reader: { kind: 'tenant', tenantId: 7, keyId: 71, readOnly: true },
};

const headersOf = (authorization: string | undefined) => ({ headers: authorization === undefined ? {} : { authorization } }) as FastifyRequest;

describe('bearer', () => {
  it('reads the key of "Bearer <key>", in any case and with spaces around', () => {
    expect(bearer(headersOf('Bearer abc'))).toBe('abc');
    expect(bearer(headersOf('bearer abc'))).toBe('abc');
    expect(bearer(headersOf('  BEARER \t abc  '))).toBe('abc');
  });

  it('finds no key in anything else', () => {
    for (const header of [undefined, '', 'abc', 'Bearer', 'Bearer ', 'xBearer abc', 'Basic abc', 'Bearer abc def', 'Bearerabc']) {
      expect(bearer(headersOf(header)), String(header)).toBeNull();
    }
  });
});

describe('the auth plugin', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const seen: { principal: Principal | null }[] = [];

  beforeAll(async () => {
    database = await migratedDatabase();
    app = Fastify();
    registerErrorHandling(app);
    await app.register(authPlugin, { database, resolve: async (key) => keys[key] ?? null });
    const echo = async (request: FastifyRequest) => {
      seen.push({ principal: request.principal });
      return { principal: request.principal };
    };
    app.get('/tenant', echo);
    app.post('/tenant', echo);
    app.delete('/tenant', echo);
    app.get('/admin', { config: { access: 'admin' } }, echo);
    app.get('/tenant/id', (request) => ({ tenantId: callerTenant(request) }));
    app.get('/public', { config: { access: 'public' } }, echo);
    app.get('/public/scope', { config: { access: 'public' } }, (request) => request.inTenant(async () => 'never'));
    app.get('/scope', (request) => request.inTenant(async (trx) => {
      const { rows: [row] } = await sql<{ tenant: string; actor: string }>`select current_setting('app.tenant_id') as tenant, current_setting('app.actor_id') as actor`.execute(trx);
      return row;
    }));
    await app.register(async (docs) => {
      publicByDefault(docs);
      docs.get('/docs', echo);
      docs.get('/docs/admin', { config: { access: 'admin' } }, echo);
    });
    atFileEnd(() => app.close());
  });

  const call = (method: 'GET' | 'POST' | 'DELETE' | 'HEAD', url: string, key?: string) =>
    app.inject({ method, url, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });

  it('answers 401 with the catalogue\'s message to a tenant route without a key or with an unknown one', async () => {
    for (const key of [undefined, 'nobody']) {
      const response = await call('GET', '/tenant', key);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'A valid API key is required.', details: [] } });
    }
  });

  it('never asks the resolver about a header that is not "Bearer <key>"', async () => {
    const response = await app.inject({ method: 'GET', url: '/tenant', headers: { authorization: 'xBearer writer' } });
    expect(response.statusCode).toBe(401);
  });

  it('lets a tenant key through to tenant routes and hands the route its principal', async () => {
    const response = await call('GET', '/tenant', 'writer');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ principal: keys.writer });
  });

  it('refuses an admin key on a tenant route and a tenant key on an admin route, saying which key is needed', async () => {
    const tenantRoute = await call('GET', '/tenant', 'admin');
    expect([tenantRoute.statusCode, tenantRoute.json().error]).toEqual([401, { code: 'UNAUTHENTICATED', message: 'a tenant API key is required', details: [] }]);
    const adminRoute = await call('GET', '/admin', 'writer');
    expect([adminRoute.statusCode, adminRoute.json().error]).toEqual([401, { code: 'UNAUTHENTICATED', message: 'an admin API key is required', details: [] }]);
    const admin = await call('GET', '/admin', 'admin');
    expect([admin.statusCode, admin.json()]).toEqual([200, { principal: keys.admin }]);
  });

  it('lets a read-only key GET and HEAD, and refuses it any other method with 403 naming the method', async () => {
    expect((await call('GET', '/tenant', 'reader')).statusCode).toBe(200);
    expect((await call('HEAD', '/tenant', 'reader')).statusCode).toBe(200);
    for (const method of ['POST', 'DELETE'] as const) {
      const response = await call(method, '/tenant', 'reader');
      expect([response.statusCode, response.json().error])
        .toEqual([403, { code: 'READ_ONLY_KEY', message: `this API key is read-only: ${method} needs a read-write key`, details: [] }]);
    }
    expect((await call('POST', '/tenant', 'writer')).statusCode).toBe(200);
  });

  it('serves public routes without a key and leaves their principal null, even when a key is sent', async () => {
    for (const key of [undefined, 'writer']) {
      const response = await call('GET', '/public', key);
      expect([response.statusCode, response.json()]).toEqual([200, { principal: null }]);
    }
  });

  it('answers an unknown URL 404 without asking for a key', async () => {
    const response = await call('GET', '/nowhere');
    expect([response.statusCode, response.json().error.code]).toEqual([404, 'NOT_FOUND']);
  });

  it('makes routes public under publicByDefault, unless a route says otherwise', async () => {
    expect((await call('GET', '/docs')).statusCode).toBe(200);
    expect((await call('GET', '/docs/admin')).statusCode).toBe(401);
    expect((await call('GET', '/docs/admin', 'admin')).statusCode).toBe(200);
  });

  it('names the caller\'s tenant to a tenant route', async () => {
    const response = await call('GET', '/tenant/id', 'reader');
    expect([response.statusCode, response.json()]).toEqual([200, { tenantId: 7 }]);
  });

  it('registers as strata-auth, the name other plugins depend on', () => {
    expect(app.hasPlugin('strata-auth')).toBe(true);
  });

  it('looks keys up in the database when given no resolver', async () => {
    const adminKey = generateAdminKey();
    await ensureAdminKey(database.admin, adminKey);
    const bare = Fastify();
    registerErrorHandling(bare);
    await bare.register(authPlugin, { database });
    bare.get('/admin', { config: { access: 'admin' } }, (request) => ({ principal: request.principal?.kind }));
    atFileEnd(() => bare.close());
    const known = await bare.inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${adminKey}` } });
    expect([known.statusCode, known.json()]).toEqual([200, { principal: 'admin' }]);
    const unknown = await bare.inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${generateAdminKey()}` } });
    expect(unknown.statusCode).toBe(401);
  });

  it('runs inTenant in the key\'s tenant with the key as the audit actor, and refuses it without a tenant key', async () => {
    const scoped = await call('GET', '/scope', 'writer');
    expect([scoped.statusCode, scoped.json()]).toEqual([200, { tenant: '7', actor: '70' }]);
    const refused = await call('GET', '/public/scope');
    expect([refused.statusCode, refused.json().error]).toEqual([401, { code: 'UNAUTHENTICATED', message: 'a tenant API key is required', details: [] }]);
  });
});
