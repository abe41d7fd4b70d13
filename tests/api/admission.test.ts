import { connect } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { testApi, type TestApi } from './helpers.js';
import { seeder } from './support/seed.js';

let api: TestApi;
let tenant: { id: number; key: string };
let user: { id: number };

beforeAll(async () => {
  api = await testApi();
  tenant = await api.tenant('Admission');
  user = await seeder(api).user(tenant.key);
});

const batch = (rows: number) => JSON.stringify({
  activities: Array.from({ length: rows }, (_, index) => ({ userId: user.id, type: 'view', metadata: { n: index } })),
});

/** Another app on the same database, with its own pools and configuration; it listens on 127.0.0.1. */
async function serve(env: Record<string, string>, pools: { maxConnections: number; ingestConnections: number }) {
  const database = openDatabase(api.database.url, pools);
  const app = await buildApp({ database, config: loadConfig(env) });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  atFileEnd(async () => {
    await app.close();
    await database.close();
  });
  return { app, origin };
}

const post = (origin: string, body: string) => fetch(`${origin}/v1/activities`, {
  method: 'POST', body, headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json' },
});

/** A session holding `lock table user_activity in share mode`: reads go on, every insert waits for release(). */
async function blockInserts() {
  const client = new pg.Client({ connectionString: api.database.url });
  await client.connect();
  await client.query('begin');
  await client.query('lock table user_activity in share mode');
  return async () => {
    await client.query('commit');
    await client.end();
  };
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  // A bound on waiting for a state, not a timing assertion: the test fails if the state never comes.
  for (let attempt = 0; attempt < 2000; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never reached: ${what}`);
}

const waitingInserts = async () => (await sql<{ n: number }>`
  select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation
  where not l.granted and c.relname = 'user_activity'`.execute(api.database.admin)).rows[0]!.n;

const storedRows = async () => (await sql<{ n: number }>`select count(*)::int as n from user_activity where tenant_id = ${tenant.id}`
  .execute(api.database.admin)).rows[0]!.n;

describe('ingest admission', () => {
  it('refuses a batch past the in-flight bound and a full queue with 503 OVERLOADED and Retry-After, at once', async () => {
    const { origin } = await serve({ INGEST_MAX_INFLIGHT_BYTES: '1', INGEST_QUEUE_LENGTH: '0' }, { maxConnections: 4, ingestConnections: 2 });
    const release = await blockInserts();
    try {
      const first = post(origin, batch(10));
      await until(async () => (await waitingInserts()) === 1, 'the first batch waits on the lock');
      const refused = await post(origin, batch(10));
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((await refused.json()).error.code).toBe('OVERLOADED');
      await release();
      expect((await first).status).toBe(201);
    } finally {
      await release().catch(() => undefined);
    }
    expect(await storedRows()).toBe(10);
    await sql`delete from user_activity where tenant_id = ${tenant.id}`.execute(api.database.admin);
  });

  it('queues one batch behind the one in flight, refuses the next, and admits the queued one when room is given back', async () => {
    const { origin } = await serve({ INGEST_MAX_INFLIGHT_BYTES: '1', INGEST_QUEUE_LENGTH: '1' }, { maxConnections: 4, ingestConnections: 2 });
    const release = await blockInserts();
    try {
      const first = post(origin, batch(3));
      await until(async () => (await waitingInserts()) === 1, 'the first batch waits on the lock');
      // Whichever of the two arrives second finds the one-place queue taken.
      const [second, third] = [post(origin, batch(4)), post(origin, batch(4))];
      const refused = await Promise.race([second, third]);
      expect(refused.status).toBe(503);
      await release();
      expect([(await first).status, (await second).status, (await third).status].sort()).toEqual([201, 201, 503]);
    } finally {
      await release().catch(() => undefined);
    }
    expect(await storedRows()).toBe(7);
    await sql`delete from user_activity where tenant_id = ${tenant.id}`.execute(api.database.admin);
  });

  it('answers reads while every ingest connection is held by a blocked batch: ingest has a pool of its own', async () => {
    const { origin } = await serve({}, { maxConnections: 2, ingestConnections: 1 });
    const release = await blockInserts();
    try {
      const batches = [1, 2, 3].map(() => post(origin, batch(2)));
      await until(async () => (await waitingInserts()) >= 1, 'a batch waits on the lock');
      const read = await Promise.race([
        fetch(`${origin}/v1/users`, { headers: { authorization: `Bearer ${tenant.key}` } }).then((response) => response.status),
        new Promise((resolve) => setTimeout(() => resolve('the read queued behind the batches'), 10_000)),
      ]);
      expect(read).toBe(200);
      await release();
      expect((await Promise.all(batches)).map((response) => response.status)).toEqual([201, 201, 201]);
    } finally {
      await release().catch(() => undefined);
    }
    await sql`delete from user_activity where tenant_id = ${tenant.id}`.execute(api.database.admin);
  });

  it('commits nothing for a client that hung up before the commit', async () => {
    const { app, origin } = await serve({}, { maxConnections: 2, ingestConnections: 1 });
    const address = new URL(origin);
    const payload = batch(2000);
    const release = await blockInserts();
    try {
      const socket = connect(Number(address.port), address.hostname);
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.write([
        'POST /v1/activities HTTP/1.1', `Host: ${address.host}`, `Authorization: Bearer ${tenant.key}`, 'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(payload)}`, '', payload,
      ].join('\r\n'));
      // The whole batch is read and inserted; only the lock keeps it from committing.
      await until(async () => (await waitingInserts()) === 1, 'the batch waits on the lock');
      socket.destroy();
      await until(() => new Promise((resolve) => app.server.getConnections((_error, count) => resolve(count === 0))), 'the server sees the hang-up');
      await release();
      await until(async () => (await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'`.execute(api.database.admin)).rows[0]!.n === 0,
      'the ingest transaction ends');
    } finally {
      await release().catch(() => undefined);
    }
    expect(await storedRows()).toBe(0);
  });
});
