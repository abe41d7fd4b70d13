import pg from 'pg';
import { sql } from 'kysely';
import { openDatabase, withDatabaseName } from './src/db/database.js';
import { migrate } from './src/db/migrator.js';
import { runPipeline } from './src/etl/user-analytics/pipeline.js';
const server = 'postgres://root@127.0.0.1:5432/postgres';
const name = 'strata_bench_etl_prof';
const c = new pg.Client({ connectionString: server }); await c.connect();
await c.query(`drop database if exists ${name}`); await c.query(`create database ${name}`); await c.end();
const db = openDatabase(withDatabaseName(server, name));
try {
  await migrate(db, '0013_add_etl_commit_order_and_quarantine');
  const tenants = await db.admin.insertInto('tenant').values(Array.from({ length: 100 }, (_, i) => ({ name: `B${i}`, slug: `bench-etl-${i}` }))).returning('id').execute();
  await sql`insert into app_user (tenant_id, email, username) select t.id, 'u' || n || '-' || t.id || '@b.example', 'u' || n from unnest(${tenants.map(t => t.id)}::bigint[]) t(id), generate_series(1, 200) n`.execute(db.admin);
  await sql`with users as (select tenant_id, id, row_number() over (partition by tenant_id order by id) - 1 as n, dense_rank() over (order by tenant_id) - 1 as t from app_user)
    insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select u.tenant_id, u.id, (array['login','view','search','purchase','share'])[1 + (g % 5)::int], timestamptz '2025-01-01' + make_interval(days => (abs(hashint8(g)) % 90)::int, secs => (g % 86400)::int)
    from generate_series(1::bigint, 1000000::bigint) g join users u on u.t = g % 100 and u.n = abs(hashint8(g * 2 + 1)) % 200`.execute(db.admin);
  await sql`analyze`.execute(db.admin);
  const t0 = performance.now(); const mark = (l: string) => console.log(l, (performance.now() - t0).toFixed(0));
  const r = await runPipeline(db, { hooks: { afterExtract: () => mark('extract+validate+rollup'), afterTransform: (o) => { mark('transform'); console.log('metrics', o.metrics.length, 'aud', o.activeUserDays.length); }, afterValidate: () => mark('validate+reconcile'), duringLoad: () => mark('load') } });
  mark('commit'); console.log(r);
} finally {
  await db.close();
  const c2 = new pg.Client({ connectionString: server }); await c2.connect(); await c2.query(`drop database ${name} with (force)`); await c2.end();
}
