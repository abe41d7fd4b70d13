import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { DB } from './schema.generated.js';
import { QueryCounter } from './query-counter.js';

/** The role tenant queries run as: no BYPASSRLS, so the tenant policies always apply. */
export const APP_ROLE = 'strata_app';

// Ids are bigint in the database and JSON numbers at the edge (safe below 2^53); dates stay ISO strings
// so a calendar day never shifts with the process time zone.
const typeParsers: Record<number, (value: string) => unknown> = {
  20: Number, // int8
  1700: Number, // numeric
  1082: (value) => value, // date
};

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    return typeParsers[oid] ?? (pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown);
  },
};

export interface Database {
  /** Cross-tenant access (migrations, tenant management, schedulers). Never hand it to tenant code. */
  readonly admin: Kysely<DB>;
  readonly pool: pg.Pool;
  /**
   * Ingest batches' own pool (same role as `admin`): a flood of batches queues for these
   * connections, never for the ones reads use.
   */
  readonly ingest: Kysely<DB>;
  readonly queries: QueryCounter;
  readonly url: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  maxConnections?: number;
  /** Size of the ingest pool, beside maxConnections (default 3: two cores are busy with three COPYs). */
  ingestConnections?: number;
  applicationName?: string;
}

function openPool(url: string, max: number, applicationName: string, queries: QueryCounter): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, application_name: applicationName, types });
  pool.on('connect', (client) => {
    // A checked-out client whose server connection drops (admin kill, failover) emits 'error';
    // unheard, it would end the process. The query in flight still fails and is reported.
    client.on('error', () => undefined);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text?: string } | undefined;
      queries.record(typeof first === 'string' ? first : first?.text ?? '<stream>');
      return query(...args);
    };
  });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

export function openDatabase(url: string, options: OpenOptions = {}): Database {
  const queries = new QueryCounter();
  const applicationName = options.applicationName ?? 'strata';
  const pool = openPool(url, options.maxConnections ?? 10, applicationName, queries);
  const admin = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  // pg connects lazily: a process that never ingests never opens these connections.
  const ingestPool = openPool(url, options.ingestConnections ?? 3, `${applicationName}-ingest`, queries);
  const ingest = new Kysely<DB>({ dialect: new PostgresDialect({ pool: ingestPool }) });
  let closed = false;
  return {
    admin,
    pool,
    ingest,
    queries,
    url,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([admin.destroy(), ingest.destroy()]);
    },
  };
}

/** Replaces the database name in a connection URL. */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}
