import { sql } from 'kysely';
import { startBenchServer, createTenantsAndUsers, activityRows, timed, median, truncateActivities } from '../support.ts';
import { withTenant, scopeTransaction } from '../../src/db/tenant.ts';
import { copyInto, copyChunks } from '../../src/db/copy.ts';

const server = await startBenchServer();
const db = await server.freshDatabase('prof3');
await sql`select ensure_user_activity_partitions(3, 3)`.execute(db.admin);
const t = await createTenantsAndUsers(db, 1, 1000);
const tenantId = t.tenantIds[0]!;
const rows = activityRows(10_000, t.userIds[0]!);
const stageCols = [
  { name: 'user_id', type: 'bigint' as const, value: (r: any) => r.user_id },
  { name: 'activity_type', type: 'text' as const, value: (r: any) => r.activity_type },
  { name: 'metadata', type: 'jsonb' as const, value: (r: any) => JSON.stringify(r.metadata) },
  { name: 'created_at', type: 'timestamptz' as const, value: (r: any) => r.created_at },
];
const rawCols = [{ name: 'tenant_id', type: 'bigint' as const, value: () => tenantId }, ...stageCols];
const res: Record<string, number[]> = {};
const add = (k: string, v: number) => (res[k] ??= []).push(v);
for (let i = 0; i < 9; i++) {
  add('encode', (await timed(async () => { let n = 0; for (const c of copyChunks(stageCols, rows)) n += c.length; return n; })).ms);
  await withTenant(db, { tenantId }, async (trx) => {
    add('create', (await timed(() => sql`create temp table s (user_id bigint, activity_type text, metadata jsonb, created_at timestamptz) on commit drop`.execute(trx))).ms);
    add('stagecopy', (await timed(() => copyInto(trx, 's', stageCols.map((c) => c.name), copyChunks(stageCols, rows)))).ms);
    add('insertselect', (await timed(() => sql`insert into user_activity (tenant_id, user_id, activity_type, metadata, created_at) select ${tenantId}::bigint, user_id, activity_type, metadata, coalesce(created_at, now()) from s`.execute(trx))).ms);
  });
  await truncateActivities(db);
  await db.admin.transaction().execute(async (trx) => {
    add('ownerInsertSelect', (await timed(async () => {
      await sql`create temp table s2 (user_id bigint, activity_type text, metadata jsonb, created_at timestamptz) on commit drop`.execute(trx);
      await copyInto(trx, 's2', stageCols.map((c) => c.name), copyChunks(stageCols, rows));
      await sql`insert into user_activity (tenant_id, user_id, activity_type, metadata, created_at) select ${tenantId}::bigint, user_id, activity_type, metadata, created_at from s2`.execute(trx);
    })).ms);
  });
  await truncateActivities(db);
  add('raw', (await timed(() => db.admin.transaction().execute((trx) => copyInto(trx, 'user_activity', rawCols.map((c) => c.name), copyChunks(rawCols, rows))))).ms);
  await truncateActivities(db);
}
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(18), median(v).toFixed(1), v.map((x) => x.toFixed(0)).join(' '));
await server.stop();
