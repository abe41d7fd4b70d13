import pg from 'pg';
import type { Config } from '../config.js';
import { openDatabase, withDatabaseName, type Database } from './database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.js';

export interface Runtime {
  readonly database: Database;
  readonly embedded: EmbeddedServer | null;
  close(): Promise<void>;
}

const EMBEDDED_DATABASE = 'strata';

async function ensureDatabaseExists(serverUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/**
 * Connects to DATABASE_URL, or starts the embedded server in STRATA_DATA_DIR when it is unset.
 * `close()` ends the pool and stops the embedded server, if any.
 */
export async function openRuntime(config: Config, log: (line: string) => void = () => undefined): Promise<Runtime> {
  let embedded: EmbeddedServer | null = null;
  let url = config.DATABASE_URL;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dataDir: config.STRATA_DATA_DIR, log });
    await ensureDatabaseExists(embedded.url, EMBEDDED_DATABASE);
    url = withDatabaseName(embedded.url, EMBEDDED_DATABASE);
  }
  const database = openDatabase(url, { ingestConnections: config.INGEST_POOL_SIZE });
  return {
    database,
    embedded,
    async close() {
      await database.close();
      await embedded?.stop();
    },
  };
}
