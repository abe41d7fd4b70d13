import { sql, CompiledQuery } from 'kysely';
import { startBenchServer, createTenantsAndUsers, timed, median, percentile } from '../support.ts';
import { scopeTransaction } from '../../src/db/tenant.ts';
import { ActivityRepository } from '../../src/repositories/activity-repository.ts';
import { ensureMonthlyPartitions } from '../../src/db/activity-partitions.ts';

const server = await startBenchServer();
const db = await server.freshDatabase('prof7');
await ensureMonthlyPartitions(db, { monthsBack: 3 });
const t = await createTenantsAndUsers(db, 100, 100);
await sql`insert into user_activity (tenant_id, user_id, activity_type, metadata, created_at)
  select u.tenant_id, u.id, (array['login','logout','view','search','purchase','share','comment','invite','export','upload'])[1 + g % 10], jsonb_build_object('n', g), now() - (g * 7919 % 5000000) * interval '1 second'
  from app_user u, generate_series(1, 100) g`.execute(db.admin);
await sql`vacuum analyze user_activity`.execute(db.admin);
const tenantId = t.tenantIds[5]!;
await db.admin.transaction().execute(async (trx) => {
  const scoped = await scopeTransaction(trx, { tenantId });
  const repo = new ActivityRepository(scoped);
  const q1 = repo.forTenant().where('a.activity_type', '=', 'view').orderBy('a.created_at', 'desc').limit(10).compile();
  const q2 = scoped.selectFrom('user_activity').selectAll().where('tenant_id', '=', tenantId).where('activity_type', '=', 'view').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(10).compile();
  for (const [name, q] of [['recent', q1], ['list', q2]] as const) {
    let last: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await trx.executeQuery(CompiledQuery.raw(`explain (analyze, summary) ${q.sql}`, [...q.parameters]));
      last = r.rows.map((x: any) => x['QUERY PLAN']).slice(-2);
    }
    console.log(name, last.join(' | '));
  }
  const times: number[] = [];
  for (let i = 0; i < 300; i++) times.push((await timed(() => repo.recentActivity({ type: 'view', limit: 10 }))).ms);
  console.log('recent median', median(times).toFixed(3), 'p99', percentile(times, 99).toFixed(3));
  const t2: number[] = [];
  for (let i = 0; i < 300; i++) t2.push((await timed(() => sql`select 1`.execute(trx))).ms);
  console.log('select 1 median', median(t2).toFixed(3), 'p99', percentile(t2, 99).toFixed(3));
});
await server.stop();
