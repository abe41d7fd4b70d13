import { sql, type Kysely, type KyselyPlugin, type OperationNode } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../src/db/schema.generated.js';
import {
  commitHorizon, extractChunks, loadedFirstDays, sourceTotals, windowsTo, type ExtractScope, type NodeWindow,
} from '../../src/etl/user-analytics/extractors.js';
import { countWindow, stagedFirstDays, stageUserDays } from '../../src/etl/user-analytics/transformers.js';
import { checkStagedUserDays, validateOutput } from '../../src/etl/user-analytics/validators.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { catchUp, horizonPassed, insertActivities, seedTenant, succeeded } from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

/** A handle that keeps the array parameters of every raw statement it sends, in order. */
function recordingArrays<T extends Kysely<DB>>(db: T): { db: T; arrays: unknown[][][] } {
  const arrays: unknown[][][] = [];
  const plugin: KyselyPlugin = {
    transformQuery({ node }) {
      if (node.kind === 'RawNode') {
        arrays.push(node.parameters
          .map((parameter: OperationNode) => (parameter as { value?: unknown }).value)
          .filter((value): value is unknown[] => Array.isArray(value)));
      }
      return node;
    },
    async transformResult({ result }) {
      return result;
    },
  };
  return { db: db.withPlugin(plugin) as T, arrays };
}

/** The rows committed by `write`, as windows on the one node that stores the tenant's rows. */
async function windowOf(tenantId: number, write: () => Promise<void>): Promise<NodeWindow[]> {
  await horizonPassed(database);
  const before = await commitHorizon(database.admin);
  await write();
  await horizonPassed(database);
  const after = await commitHorizon(database.admin);
  const { rows } = await sql<{ node: number }>`select distinct ingest_node as node from user_activity where tenant_id = ${tenantId}`
    .execute(database.admin);
  const nodes = new Set(rows.map((row) => row.node));
  return windowsTo(before, after).filter((window) => nodes.has(window.node));
}

describe('windowsTo', () => {
  it('orders the windows by node, starts a node without a watermark at 0 and never inverts a window', () => {
    const watermark = new Map([[1, '100'], [4, '90']]);
    const horizon = new Map([[3, '50'], [1, '150'], [4, '80'], [2, '70']]);
    expect(windowsTo(watermark, horizon)).toEqual([
      { node: 1, xidFrom: '100', xidTo: '150' },
      { node: 2, xidFrom: '0', xidTo: '70' },
      { node: 3, xidFrom: '0', xidTo: '50' },
      { node: 4, xidFrom: '90', xidTo: '90' },
    ]);
  });
});

describe('the rows of a scope', () => {
  it('are none without a window, and those of every window when there are several', async () => {
    const { tenantId, userIds: [userId] } = await seedTenant(database, 1);
    const write = (day: string) => insertActivities(database, [{ tenantId, userId: userId!, type: 'login', at: `${day}T10:00:00Z` }]);
    const first = await windowOf(tenantId, () => write('2025-02-01'));
    await write('2025-02-02');
    const third = await windowOf(tenantId, () => write('2025-02-03'));
    expect(await sourceTotals(database.admin, { windows: [] })).toEqual([]);
    const totals = await sourceTotals(database.admin, { windows: [...first, ...third] });
    expect(totals.sort((a, b) => a.day.localeCompare(b.day))).toEqual([
      { tenantId, day: '2025-02-01', activities: 1, events: 0, activeUsers: 1 },
      { tenantId, day: '2025-02-03', activities: 1, events: 0, activeUsers: 1 },
    ]);
  });
});

describe('extractChunks', () => {
  async function chunked(scope: ExtractScope, chunkSize: number) {
    const { result: sizes, statements } = await database.queries.measure(() => database.admin.transaction().execute(async (trx) => {
      const lengths: number[] = [];
      for await (const chunk of extractChunks(trx, 'user_activity', scope, chunkSize)) lengths.push(chunk.length);
      return lengths;
    }));
    return { sizes, reads: statements.filter((statement) => /\blimit \$\d+/.test(statement)).length };
  }

  it('yields full chunks, then the rest; never an empty chunk, and reads nothing after a short one', async () => {
    const { tenantId, userIds } = await seedTenant(database, 4);
    const windows = await windowOf(tenantId, () => insertActivities(database, userIds.map((userId) => ({
      tenantId, userId, type: 'login', at: '2025-02-10T10:00:00Z',
    }))));
    expect(windows).toHaveLength(1);
    // Four rows by two: the third read finds nothing and ends it.
    expect(await chunked({ windows }, 2)).toEqual({ sizes: [2, 2], reads: 3 });
    expect(await chunked({ windows }, 3)).toEqual({ sizes: [3, 1], reads: 2 });
    expect(await chunked({ windows: windows.map((window) => ({ ...window, xidTo: window.xidFrom })) }, 3)).toEqual({ sizes: [], reads: 1 });
  });
});

describe('loadedFirstDays', () => {
  it('asks for the users batchSize at a time and returns the first day loaded for each user seen before', async () => {
    const { tenantId, userIds } = await seedTenant(database, 4);
    const [a, b, c, d] = userIds as [number, number, number, number];
    await insertActivities(database, [
      { tenantId, userId: a, type: 'login', at: '2025-02-05T10:00:00Z' },
      { tenantId, userId: a, type: 'login', at: '2025-02-03T10:00:00Z' },
      { tenantId, userId: c, type: 'login', at: '2025-02-04T10:00:00Z' },
    ]);
    succeeded(await catchUp(database));
    const recording = recordingArrays(database.admin);
    const users = [a, b, c, d].map((userId) => ({ tenantId, userId }));
    const firstDays = await loadedFirstDays(recording.db, users, 2);
    expect(firstDays).toEqual(new Map([[`${tenantId}:${a}`, '2025-02-03'], [`${tenantId}:${c}`, '2025-02-04']]));
    expect(recording.arrays).toEqual([[[tenantId, tenantId], [a, b]], [[tenantId, tenantId], [c, d]]]);
    recording.arrays.length = 0;
    expect(await loadedFirstDays(recording.db, [], 2)).toEqual(new Map());
    expect(recording.arrays).toEqual([]);
  });
});

describe('stagedFirstDays', () => {
  it('finds each staged user\'s first day and the first day loaded, the same way on a cluster and on one server', async () => {
    const { tenantId, userIds } = await seedTenant(database, 3);
    const [a, b, c] = userIds as [number, number, number];
    await insertActivities(database, [
      { tenantId, userId: a, type: 'login', at: '2025-03-05T10:00:00Z' },
      { tenantId, userId: b, type: 'login', at: '2025-03-03T10:00:00Z' },
    ]);
    succeeded(await catchUp(database));
    const staged = sql`(select * from (values (${tenantId}::bigint, '2025-03-04'::date, ${a}::bigint), (${tenantId}, '2025-03-02', ${a}),
      (${tenantId}, '2025-03-06', ${b}), (${tenantId}, '2025-03-01', ${c})) as v(tenant_id, day, user_id))`;
    const firstDays = (citus: boolean) => database.admin.transaction().execute(async (trx) => {
      await stageUserDays(trx, staged);
      const found = await stagedFirstDays(trx, { citus });
      return { batch: found.batch.sort((x, y) => x.userId - y.userId), loaded: found.loaded };
    });
    const expected = {
      batch: [{ tenantId, userId: a, day: '2025-03-02' }, { tenantId, userId: b, day: '2025-03-06' }, { tenantId, userId: c, day: '2025-03-01' }],
      loaded: new Map([[`${tenantId}:${a}`, '2025-03-05'], [`${tenantId}:${b}`, '2025-03-03']]),
    };
    expect(await firstDays(true)).toEqual(expected);
    // Citus refuses the per-user probe; a single server answers it too.
    if (!onCitus()) expect(await firstDays(false)).toEqual(expected);
  });
});

describe('countWindow', () => {
  // Three groups of one source: one holds the lowest and the highest id, one an id between them,
  // and the rows of one are all flagged. Every way of dealing these roles to the groups.
  const roles = [[[1, false], [100, false]], [[50, false]], [[7, true]]] as const;
  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

  it('takes the lowest and highest id of the clean rows over every group, whatever order the groups come in', async () => {
    for (const order of orders) {
      const rows = order.flatMap((role, group) => roles[role]!.map(([id, flagged]) =>
        sql`(1::bigint, 'user_activity'::text, ${`name${group}`}::text, '2025-01-01'::date, ${id}::bigint, ${flagged}::boolean)`));
      const window = sql`(select * from (values ${sql.join(rows)}) as v(tenant_id, source, name, day, id, doubtful))`;
      const counts = await countWindow(database.admin, window, sql<boolean>`w.doubtful`);
      expect({ order, rowsRead: counts.rowsRead, suspects: counts.suspects, clean: counts.clean }).toEqual({
        order, rowsRead: 4, suspects: 1,
        clean: { user_activity: { rows: 3, minId: 1, maxId: 100, idSum: 151n }, event: { rows: 0, minId: null, maxId: null, idSum: 0n } },
      });
    }
  });
});

describe('output rows that are not valid', () => {
  it('are all counted, and the first 20 of them named', () => {
    const metrics = Array.from({ length: 25 }, (_, index) => ({ tenantId: 1, name: 'activities' as const, dimension: `d${index}`, day: '2025-03-03', value: 0 }));
    expect(() => validateOutput({ metrics, activeUserDays: [] })).toThrow(expect.objectContaining({
      message: '25 output rows are not valid',
      details: Array.from({ length: 20 }, (_, index) => expect.objectContaining({ path: `metrics.${index}` })),
    }));
  });

  it('are named per tenant and day when staged, with how many and one of their users', async () => {
    const staged = database.admin.transaction().execute(async (trx) => {
      await stageUserDays(trx, sql`(select * from (values (1::bigint, '2025-01-01'::date, 0::bigint), (1, '2025-01-01', -4), (1, '2025-01-01', 3))
        as v(tenant_id, day, user_id))`);
      return checkStagedUserDays(trx);
    });
    await expect(staged).rejects.toMatchObject({
      code: 'INTERNAL', message: '2 output rows are not valid',
      details: [{ path: 'activeUserDays tenant 1 day 2025-01-01', message: '2 rows are not valid, among them user -4' }],
    });
  });
});
