import { sql } from 'kysely';
import { startBenchServer, createTenantsAndUsers, activityRows, timed, median, truncateActivities } from '../support.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { ActivityRepository } from '../../src/repositories/activity-repository.ts';
import { ensureMonthlyPartitions } from '../../src/db/activity-partitions.ts';
import { parseInput } from '../../src/models/validation.ts';
import { activityBatch } from '../../src/models/activity.ts';

const server = await startBenchServer();
const db = await server.freshDatabase('prof6');
await ensureMonthlyPartitions(db, { monthsBack: 3 });
const t = await createTenantsAndUsers(db, 1, 1000);
const tenantId = t.tenantIds[0]!;
for (const size of [500, 1000, 1500, 2000]) {
  const rows = activityRows(size, t.userIds[0]!);
  const res: Record<string, number[]> = {};
  const add = (k: string, v: number) => (res[k] ??= []).push(v);
  for (let i = 0; i < 9; i++) {
    await truncateActivities(db);
    add('unnest', (await timed(() => withTenant(db, { tenantId }, (trx) => new ActivityRepository(trx, { copyThreshold: 1e9 }).bulkInsert(rows)))).ms);
    await truncateActivities(db);
    add('copy', (await timed(() => withTenant(db, { tenantId }, (trx) => new ActivityRepository(trx, { copyThreshold: 1 }).bulkInsert(rows)))).ms);
    await truncateActivities(db);
    add('jsonset', (await timed(() => withTenant(db, { tenantId }, async (trx) => {
      const batch = parseInput(activityBatch, rows);
      return sql`insert into user_activity (tenant_id, user_id, activity_type, metadata, created_at)
        select ${tenantId}::bigint, r.user_id, r.activity_type, coalesce(r.metadata, '{}'), coalesce(r.created_at, now())
        from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as r(user_id bigint, activity_type text, metadata jsonb, created_at timestamptz)`.execute(trx);
    }))).ms);
  }
  console.log(size, Object.entries(res).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join('  '));
}
await server.stop();
