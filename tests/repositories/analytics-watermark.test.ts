import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { lastWatermark, newestRunId, uncountedRowsIn } from '../../src/repositories/pipeline-watermark.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const newRuns = async (pipeline: string, count: number) => (await database.admin.insertInto('etl_run')
  .values(Array.from({ length: count }, () => ({ pipeline }))).returning('id').execute()).map((row) => row.id);

describe('the newest run id', () => {
  it('is 0 before any run, then the highest id of any pipeline', async () => {
    await database.admin.deleteFrom('etl_run').execute();
    expect(await newestRunId(database.admin)).toBe(0);
    const ids = [...await newRuns('one', 2), ...await newRuns('other', 1)];
    expect(await newestRunId(database.admin)).toBe(Math.max(...ids));
    await database.admin.deleteFrom('etl_run').where('id', '=', Math.max(...ids)).execute();
    expect(await newestRunId(database.admin)).toBe(Math.max(...ids.slice(0, 2)));
  });
});

describe('a pipeline\'s last watermark', () => {
  it('takes each node\'s last window and names the newest run among them, whatever the node order', async () => {
    const [early, middle, late, latest] = await newRuns('watermark-test', 4) as [number, number, number, number];
    // Node 0's last window is the middle run's, node 1's the latest, node 2's the earliest.
    await database.admin.insertInto('etl_run_window').values([
      { etl_run_id: early, pipeline: 'watermark-test', node: 0, xid_from: '10', xid_to: '20' },
      { etl_run_id: middle, pipeline: 'watermark-test', node: 0, xid_from: '20', xid_to: '30' },
      { etl_run_id: late, pipeline: 'watermark-test', node: 1, xid_from: '5', xid_to: '15' },
      { etl_run_id: latest, pipeline: 'watermark-test', node: 1, xid_from: '15', xid_to: '40' },
      { etl_run_id: early, pipeline: 'watermark-test', node: 2, xid_from: '7', xid_to: '9' },
      { etl_run_id: latest, pipeline: 'another', node: 3, xid_from: '1', xid_to: '2' },
    ]).execute();
    const watermark = await lastWatermark(database.admin, 'watermark-test');
    expect(Object.fromEntries(watermark.xids)).toEqual({ 0: '30', 1: '40', 2: '9' });
    expect(watermark.runId).toBe(latest);
    expect(await lastWatermark(database.admin, 'none yet')).toEqual({ xids: new Map(), runId: null });
  });

  it('names the run of the first node when it is the newest', async () => {
    const [older, newer] = await newRuns('first-newest', 2) as [number, number];
    await database.admin.insertInto('etl_run_window').values([
      { etl_run_id: newer, pipeline: 'first-newest', node: 0, xid_from: '1', xid_to: '2' },
      { etl_run_id: older, pipeline: 'first-newest', node: 1, xid_from: '1', xid_to: '2' },
    ]).execute();
    expect((await lastWatermark(database.admin, 'first-newest')).runId).toBe(newer);
  });
});

describe('the rows a watermark has not counted', () => {
  it('are those at or past its xid on a node it has, and every row of a node it has not', async () => {
    await sql`create table ingest_probe (label text not null, ingest_node int not null, ingest_xid xid8 not null)`.execute(database.admin);
    await sql`insert into ingest_probe values
      ('node 0', 0, '1'), ('below node 1', 1, '99'), ('at node 1', 1, '100'), ('past node 1', 1, '500'),
      ('node 2', 2, '1'), ('below node 3', 3, '199'), ('at node 3', 3, '200'), ('node 4', 4, '1')`.execute(database.admin);
    // Given with the higher node first: the ranges between nodes hold all the same.
    const watermark = new Map([[3, '200'], [1, '100']]);
    expect(await uncountedRowsIn(database.admin, 'ingest_probe', watermark)).toBe(6);
    expect(await uncountedRowsIn(database.admin, 'ingest_probe', new Map([[3, '200']]))).toBe(7);
    expect(await uncountedRowsIn(database.admin, 'ingest_probe', new Map())).toBe(8);
    expect(await uncountedRowsIn(database.admin, 'ingest_probe', new Map([[1, '501'], [0, '2'], [4, '2'], [2, '2'], [3, '201']]))).toBe(0);
  });
});
