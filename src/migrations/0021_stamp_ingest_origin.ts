import { sql, type Kysely } from 'kysely';
import { IrreversibleMigrationError } from '../errors.js';

// On a Citus cluster transaction ids and snapshots belong to one node: an INSERT … VALUES took the
// coordinator's xid as its default, an INSERT … SELECT pushed down to a worker took that worker's,
// and the coordinator's horizon says nothing about a worker's commits (a worker's COMMIT PREPARED
// even runs after the coordinator's commit). Every row now also records the node that stored it,
// its xid is that node's, and the pipeline keeps one window per node. A single server is node 0.

const MIGRATION = '0021_stamp_ingest_origin';

// One statement per call: Citus refuses a multi-statement string that changes a distributed table
// ("cannot insert multiple commands into a prepared statement").
async function run(db: Kysely<any>, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

async function hasCitus(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ citus: boolean }>`select exists (select 1 from pg_extension where extname = 'citus') as citus`.execute(db);
  return rows[0]?.citus ?? false;
}

export async function up(db: Kysely<any>): Promise<void> {
  const citus = await hasCitus(db);
  if (citus) {
    // One transaction over one connection per node, as 0018: DDL on the shards, then a new reference table.
    await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
    await sql`set local citus.enable_unsafe_triggers = on`.execute(db);
  }
  // A constant default: no table rewrite, and every row written so far is node 0's.
  await run(db, [
    'ALTER TABLE user_activity ADD COLUMN ingest_node integer NOT NULL DEFAULT 0',
    'DROP INDEX user_activity_ingest_xid_id_idx',
    'CREATE INDEX user_activity_ingest_node_xid_id_idx ON user_activity (ingest_node, ingest_xid, id)',
    'ALTER TABLE event ADD COLUMN ingest_node integer NOT NULL DEFAULT 0',
    'DROP INDEX event_ingest_xid_id_idx',
    'CREATE INDEX event_ingest_node_xid_id_idx ON event (ingest_node, ingest_xid, id)',
  ]);
  if (citus) {
    // Runs on the shard, so the node and the xid both describe the node that stores the row, whoever
    // routed it; a prepared (2PC) transaction stays in that node's snapshots until COMMIT PREPARED,
    // so that node's horizon holds back until then. A row already stamped by a worker (groupid >= 1)
    // keeps its stamp when it moves between partitions, or it would be counted again.
    await sql`
      CREATE FUNCTION stamp_ingest_origin() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.ingest_node := (SELECT groupid FROM pg_dist_local_group);
        NEW.ingest_xid := pg_current_xact_id();
        RETURN NEW;
      END $$`.execute(db);
    for (const table of ['user_activity', 'event']) {
      await sql`CREATE TRIGGER ${sql.id(`${table}_stamp_ingest_origin`)} BEFORE INSERT ON ${sql.table(table)}
        FOR EACH ROW WHEN (NEW.ingest_node = 0) EXECUTE FUNCTION stamp_ingest_origin()`.execute(db);
    }
  }
  // Lineage only: what each run read (or attempted) per node, kept with its checksums.
  // Spelled as text cast to jsonb: Citus refuses the stable jsonb_build_object over columns in an UPDATE.
  await sql`UPDATE etl_run SET checksums = checksums
    || ('{"windows": [{"node": 0, "xidFrom": "' || xid_from::text || '", "xidTo": "' || xid_to::text || '"}]}')::jsonb`.execute(db);
  // Each succeeded incremental run's window on each node. A node's windows form a chain (each starts
  // where the last ended, an empty one is not written), so two starting at the same point would be
  // one batch applied twice: the key refuses the second. Deleting a run gives its rows back to the
  // next run, as deleting the run row did when it held the window.
  await sql`CREATE TABLE etl_run_window (
    etl_run_id bigint NOT NULL REFERENCES etl_run (id) ON DELETE CASCADE,
    pipeline text NOT NULL,
    node integer NOT NULL,
    xid_from xid8 NOT NULL,
    xid_to xid8 NOT NULL,
    CONSTRAINT etl_run_window_xids_ordered CHECK (xid_to >= xid_from),
    PRIMARY KEY (etl_run_id, node),
    CONSTRAINT etl_run_window_chain_key UNIQUE (pipeline, node, xid_from)
  )`.execute(db);
  if (citus) await sql`select create_reference_table('etl_run_window')`.execute(db);
  await run(db, [
    'INSERT INTO etl_run_window (etl_run_id, pipeline, node, xid_from, xid_to) SELECT id, pipeline, 0, xid_from, xid_to FROM etl_run WHERE status = \'succeeded\' AND mode = \'incremental\' AND xid_to > xid_from',
    'DROP INDEX etl_run_incremental_chain_key',
    'ALTER TABLE etl_run DROP CONSTRAINT etl_run_xids_ordered, DROP COLUMN xid_to, DROP COLUMN xid_from',
  ]);
}

export async function down(db: Kysely<any>): Promise<void> {
  // One watermark cannot hold several nodes' xids, and without the node a row's xid reads as the
  // coordinator's: the next run would skip or recount those rows.
  const { rows: [stamped] } = await sql<{ windows: boolean; rows: boolean }>`select
      exists (select 1 from etl_run_window where node <> 0) as windows,
      exists (select 1 from user_activity where ingest_node <> 0) or exists (select 1 from event where ingest_node <> 0) as rows`.execute(db);
  if (stamped?.rows) {
    throw new IrreversibleMigrationError(MIGRATION, 'activity or event rows stored on a Citus worker exist, each stamped with '
      + 'its worker, whose xid would read as the coordinator\'s below this migration; delete them, and the rows of report, '
      + 'metric, active_user_day, etl_quarantine and etl_run, first');
  }
  if (stamped?.windows) {
    throw new IrreversibleMigrationError(MIGRATION, 'analytics windows of other nodes than 0 exist; '
      + 'delete the rows of report, metric, active_user_day, etl_quarantine and etl_run first (the next run rebuilds them)');
  }
  const citus = await hasCitus(db);
  if (citus) await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
  // A succeeded run's own window wins over what its lineage says (they agree unless edited by hand).
  await run(db, [
    'ALTER TABLE etl_run ADD COLUMN xid_from xid8 NOT NULL DEFAULT \'0\', ADD COLUMN xid_to xid8 NOT NULL DEFAULT \'0\'',
    // Citus takes ADD CONSTRAINT only on its own.
    'ALTER TABLE etl_run ADD CONSTRAINT etl_run_xids_ordered CHECK (xid_to >= xid_from)',
    'UPDATE etl_run r SET xid_from = (w ->> \'xidFrom\')::xid8, xid_to = (w ->> \'xidTo\')::xid8 FROM (SELECT r2.id, w FROM etl_run r2, jsonb_array_elements(coalesce(r2.checksums -> \'windows\', \'[]\')) AS w WHERE (w ->> \'node\')::int = 0) AS windows(id, w) WHERE windows.id = r.id',
    'UPDATE etl_run r SET xid_from = w.xid_from, xid_to = w.xid_to FROM etl_run_window w WHERE w.etl_run_id = r.id AND w.node = 0',
    'UPDATE etl_run SET checksums = checksums - \'windows\'',
    'CREATE UNIQUE INDEX etl_run_incremental_chain_key ON etl_run (pipeline, xid_from) WHERE status = \'succeeded\' AND mode = \'incremental\'',
    'DROP TABLE etl_run_window',
  ]);
  if (citus) {
    await sql`DROP TRIGGER event_stamp_ingest_origin ON event`.execute(db);
    await sql`DROP TRIGGER user_activity_stamp_ingest_origin ON user_activity`.execute(db);
    await sql`DROP FUNCTION stamp_ingest_origin()`.execute(db);
  }
  await run(db, [
    'DROP INDEX event_ingest_node_xid_id_idx',
    'CREATE INDEX event_ingest_xid_id_idx ON event (ingest_xid, id)',
    'ALTER TABLE event DROP COLUMN ingest_node',
    'DROP INDEX user_activity_ingest_node_xid_id_idx',
    'CREATE INDEX user_activity_ingest_xid_id_idx ON user_activity (ingest_xid, id)',
    'ALTER TABLE user_activity DROP COLUMN ingest_node',
  ]);
}
