import { sql, CompiledQuery } from 'kysely';
import { startBenchServer, createTenantsAndUsers, timed, median, percentile } from '../support.ts';
import { scopeTransaction } from '../../src/db/tenant.ts';
import { ActivityRepository } from '../../src/repositories/activity-repository.ts';
import { ensureMonthlyPartitions } from '../../src/db/activity-partitions.ts';

const server = await startBenchServer();
const db = await server.freshDatabase('prof8');
await ensureMonthlyPartitions(db, { monthsBack: 3 });
const t = await createTenantsAndUsers(db, 100, 100);
await sql`insert into user_activity (tenant_id, user_id, activity_type, metadata, created_at)
  select u.tenant_id, u.id, (array['login','logout','view','search','purchase','share','comment','invite','export','upload'])[1 + g % 10], jsonb_build_object('n', g), now() - (g * 7919 % 5000000) * interval '1 second'
  from app_user u, generate_series(1, 100) g`.execute(db.admin);
await sql`vacuum analyze user_activity`.execute(db.admin);
const tenantId = t.tenantIds[5]!;
const client = await db.pool.connect();
await client.query('begin');
await client.query(`select set_config('role', 'strata_app', true), set_config('app.tenant_id', '${tenantId}', true)`);
const text = `select "a".*, (select to_json(obj) from (select "u"."id", "u"."username", "u"."email" from "app_user" as "u" where "u"."tenant_id" = "a"."tenant_id" and "u"."id" = "a"."user_id") as obj) as "user" from "user_activity" as "a" where "a"."tenant_id" = $1 and "a"."activity_type" = $2 order by "a"."created_at" desc limit $3`;
const run = async (label: string, fn: () => Promise<unknown>) => {
  const times: number[] = [];
  for (let i = 0; i < 500; i++) times.push((await timed(fn)).ms);
  console.log(label.padEnd(20), median(times).toFixed(3), percentile(times, 99).toFixed(3));
};
await run('unnamed', () => client.query(text, [tenantId, 'view', 10]));
await run('named', () => client.query({ name: 'r1', text, values: [tenantId, 'view', 10] }));
await run('select1', () => client.query('select 1'));
await client.query('commit');
client.release();
await db.admin.transaction().execute(async (trx) => {
  const repo = new ActivityRepository(await scopeTransaction(trx, { tenantId }));
  await run('repo', () => repo.recentActivity({ type: 'view', limit: 10 }));
  await run('compile only', async () => repo.forTenant().where('a.activity_type', '=', 'view').orderBy('a.created_at', 'desc').limit(10).compile());
});
await server.stop();
