import { randomBytes } from 'node:crypto';
import { expect, inject } from 'vitest';
import { openDatabase, withDatabaseName, type Database } from '../../src/db/database.js';
import { atFileEnd } from './cleanup.js';
import { cloneEverywhere, createEverywhere, dropEverywhere } from './cluster.js';

export interface TestDatabase extends Database {
  readonly name: string;
}

function uniqueName(): string {
  // The global setup's pid: its teardown drops whatever a crashed file left behind.
  return `strata_test_${inject('templateDatabase').split('_').pop()}_${randomBytes(4).toString('hex')}`;
}

async function open(name: string, create: () => Promise<void>): Promise<TestDatabase> {
  await create();
  const database = openDatabase(withDatabaseName(inject('serverUrl'), name), { maxConnections: 20 });
  atFileEnd(async () => {
    await database.close();
    await dropEverywhere(inject('servers'), name);
  });
  return Object.assign(database, { name });
}

/** A migrated database of this test file's own, cloned from the run's template; dropped after the file. */
export async function migratedDatabase(): Promise<TestDatabase> {
  const name = uniqueName();
  return open(name, () => cloneEverywhere(inject('servers'), inject('templateDatabase'), name));
}

/** An empty database (no migrations applied), for migration tests. */
export async function emptyDatabase(): Promise<TestDatabase> {
  const name = uniqueName();
  return open(name, () => createEverywhere(inject('servers'), name));
}

/** Whether this run's server is a Citus coordinator (DATABASE_URL at a cluster). */
export function onCitus(): boolean {
  return inject('servers').citus;
}

/**
 * A constraint's name as an error reports it: on Citus the error names the shard's copy of the
 * constraint, with the shard id appended (app_user_tenant_email_key_102008).
 */
export function constraintNamed(name: string): string {
  return onCitus() ? expect.stringMatching(new RegExp(`^${name}(_\\d+)?$`)) : name;
}
