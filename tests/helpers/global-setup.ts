import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase, withDatabaseName } from '../../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrator.js';
import { createEverywhere, discoverServers, dropMatching, freezeTemplate, onServer, type Servers } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
    templateDatabase: string;
    servers: Servers;
  }
}

let embedded: EmbeddedServer | undefined;
let dataDir: string | undefined;

/**
 * Tests run against a real PostgreSQL: DATABASE_URL when set, else an embedded server for this run.
 * The schema is migrated once into a template; each test file clones it (tests/helpers/database.ts).
 */
export default async function setup(project: TestProject) {
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = await mkdtemp(join(tmpdir(), 'strata-test-'));
    // Throwaway cluster: durability settings off, as the data is gone after the run anyway.
    embedded = await startEmbeddedPostgres({ dataDir, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } });
    serverUrl = embedded.url;
  }
  const templateDatabase = `strata_template_${process.pid}`;
  const servers = await discoverServers(serverUrl);
  await dropMatching(servers, `strata_test_${process.pid}_%`, templateDatabase);
  await createEverywhere(servers, templateDatabase);
  // Four shards per table instead of Citus's 32: every statement that spans a table's shards (the
  // truncates between tests, the pipeline's scans) costs per shard, and the rules do not depend on
  // the count. Distribution (migration 0018) reads the setting when it shards each table.
  if (servers.citus) await onServer(serverUrl, (client) => client.query(`alter database ${templateDatabase} set citus.shard_count = 4`));
  const database = openDatabase(withDatabaseName(serverUrl, templateDatabase), { maxConnections: 1 });
  await migrate(database);
  await database.close();
  await freezeTemplate(servers, templateDatabase);
  project.provide('serverUrl', serverUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('servers', servers);

  return async () => {
    await dropMatching(servers, `strata_test_${process.pid}_%`, templateDatabase);
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
