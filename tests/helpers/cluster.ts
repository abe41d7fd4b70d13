import pg from 'pg';
import { withDatabaseName } from '../../src/db/database.js';

/**
 * The servers a test database lives on: the one server, or a Citus coordinator and its workers.
 * Citus keeps its node list per database and does not create databases on the workers, so every
 * test database is made, cloned and dropped on every node, coordinator first.
 */
export interface Servers {
  readonly urls: readonly string[];
  readonly citus: boolean;
}

export async function onServer<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The nodes behind serverUrl: its Citus node list when its default database has the extension. */
export async function discoverServers(serverUrl: string): Promise<Servers> {
  return onServer(serverUrl, async (client) => {
    const { rows: [extension] } = await client.query<{ citus: boolean }>(
      `select exists (select 1 from pg_extension where extname = 'citus') as citus`);
    if (!extension!.citus) return { urls: [serverUrl], citus: false };
    const { rows } = await client.query<{ nodename: string; nodeport: number; groupid: number }>(
      'select nodename, nodeport, groupid from pg_dist_node where isactive order by groupid');
    const urls = rows.filter((node) => node.groupid !== 0).map((node) => {
      const url = new URL(serverUrl);
      url.hostname = node.nodename;
      url.port = String(node.nodeport);
      return url.toString();
    });
    return { urls: [serverUrl, ...urls], citus: true };
  });
}

/** A new empty database on every node; on Citus with the extension and the workers registered. */
export async function createEverywhere(servers: Servers, name: string): Promise<void> {
  for (const url of servers.urls) await onServer(url, (client) => client.query(`create database ${name}`));
  if (!servers.citus) return;
  for (const url of servers.urls) {
    await onServer(withDatabaseName(url, name), (client) => client.query('create extension citus'));
  }
  await onServer(withDatabaseName(servers.urls[0]!, name), async (client) => {
    const coordinator = new URL(servers.urls[0]!);
    await client.query('select citus_set_coordinator_host($1, $2)', [coordinator.hostname, Number(coordinator.port)]);
    for (const worker of servers.urls.slice(1)) {
      const { hostname, port } = new URL(worker);
      await client.query('select citus_add_node($1, $2)', [hostname, Number(port)]);
    }
  });
}

/**
 * Makes a migrated database a template on every node: no connections allowed (Citus's maintenance
 * daemon holds one to every database with the extension), so CREATE DATABASE … TEMPLATE can copy it.
 */
export async function freezeTemplate(servers: Servers, name: string): Promise<void> {
  for (const url of servers.urls) {
    await onServer(url, async (client) => {
      await client.query(`alter database ${name} allow_connections false`);
      await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    });
  }
}

/**
 * A copy of the template on every node, with the template's database-level settings (CREATE
 * DATABASE copies the files, not ALTER DATABASE … SET). On Citus the copies on the workers hold the
 * same shards the coordinator's copy names.
 */
export async function cloneEverywhere(servers: Servers, template: string, name: string): Promise<void> {
  for (const url of servers.urls) {
    await onServer(url, async (client) => {
      await whileInUse(client, `create database ${name} template ${template}`);
      const { rows } = await client.query<{ setting: string }>(
        `select unnest(setconfig) as setting from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
         where d.datname = $1 and s.setrole = 0`, [template]);
      for (const { setting } of rows) {
        const at = setting.indexOf('=');
        await client.query(`alter database ${name} set ${setting.slice(0, at)} = ${pg.escapeLiteral(setting.slice(at + 1))}`);
      }
    });
  }
}

/** Runs `statement`, again while it fails with 55006: a connection (Citus's maintenance worker) is still closing or reopening. */
async function whileInUse(client: pg.Client, statement: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await client.query(statement);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export async function dropEverywhere(servers: Servers, name: string): Promise<void> {
  for (const url of [...servers.urls].reverse()) {
    await onServer(url, (client) => whileInUse(client, `drop database if exists ${name} with (force)`));
  }
}

/** Every database of the given names on every node, for the run's teardown. */
export async function dropMatching(servers: Servers, pattern: string, exact: string): Promise<void> {
  for (const url of [...servers.urls].reverse()) {
    await onServer(url, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        'select datname from pg_database where datname like $1 or datname = $2', [pattern, exact]);
      for (const { datname } of rows) await whileInUse(client, `drop database if exists ${datname} with (force)`);
    });
  }
}
