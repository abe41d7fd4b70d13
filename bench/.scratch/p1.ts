import { sql } from 'kysely';
import { startBenchServer, createTenantsAndUsers, activityRows, timed, median, truncateActivities } from '../support.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { ActivityRepository } from '../../src/repositories/activity-repository.ts';
import { parseInput } from '../../src/models/validation.ts';
import { activityBatch } from '../../src/models/activity.ts';
import { copyInto, copyChunks } from '../../src/db/copy.ts';

const server = await startBenchServer();
const db = await server.freshDatabase('prof');
await sql`select ensure_user_activity_partitions(3, 3)`.execute(db.admin);
const t = await createTenantsAndUsers(db, 1, 1000);
const rows = activityRows(10_000, t.userIds[0]!);
const res: Record<string, number[]> = { validate: [], service: [], serviceNoJit: [], raw: [], stageOnly: [] };
for (let i = 0; i < 7; i++) {
  res.validate.push((await timed(async () => parseInput(activityBatch, rows))).ms);
  await truncateActivities(db);
  res.service.push((await timed(() => withTenant(db, { tenantId: t.tenantIds[0]! }, (trx) => new ActivityRepository(trx).bulkInsert(rows)))).ms);
  await truncateActivities(db);
  res.serviceNoJit.push((await timed(() => withTenant(db, { tenantId: t.tenantIds[0]! }, async (trx) => { await sql`set local jit = off`.execute(trx); return new ActivityRepository(trx).bulkInsert(rows); }))).ms);
  await truncateActivities(db);
  const cols = [
    { name: 'tenant_id', type: 'bigint' as const, value: () => t.tenantIds[0]! },
    { name: 'user_id', type: 'bigint' as const, value: (r: any) => r.user_id },
    { name: 'activity_type', type: 'text' as const, value: (r: any) => r.activity_type },
    { name: 'metadata', type: 'jsonb' as const, value: (r: any) => JSON.stringify(r.metadata) },
    { name: 'created_at', type: 'timestamptz' as const, value: (r: any) => r.created_at },
  ];
  res.raw.push((await timed(() => db.admin.transaction().execute((trx) => copyInto(trx, 'user_activity', cols.map((c) => c.name), copyChunks(cols, rows))))).ms);
  await truncateActivities(db);
}
for (const [k, v] of Object.entries(res)) console.log(k, median(v).toFixed(1), v.map((x) => x.toFixed(0)).join(' '));
await server.stop();
