import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, withDatabaseName, type Database } from '../../src/db/database.js';
import { atFileEnd } from './cleanup.js';

export interface TestDatabase extends Database {
  readonly name: string;
}

async function onServer(sqlText: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('serverUrl') });
  await client.connect();
  try {
    await client.query(sqlText);
  } finally {
    await client.end();
  }
}

function uniqueName(): string {
  // The global setup's pid: its teardown drops whatever a crashed file left behind.
  return `strata_test_${inject('templateDatabase').split('_').pop()}_${randomBytes(4).toString('hex')}`;
}

async function open(name: string, createSql: string): Promise<TestDatabase> {
  await onServer(createSql);
  const database = openDatabase(withDatabaseName(inject('serverUrl'), name), { maxConnections: 20 });
  atFileEnd(async () => {
    await database.close();
    await onServer(`drop database if exists ${name} with (force)`);
  });
  return Object.assign(database, { name });
}

/** A migrated database of this test file's own, cloned from the run's template; dropped after the file. */
export async function migratedDatabase(): Promise<TestDatabase> {
  const name = uniqueName();
  return open(name, `create database ${name} template ${inject('templateDatabase')}`);
}

/** An empty database (no migrations applied), for migration tests. */
export async function emptyDatabase(): Promise<TestDatabase> {
  const name = uniqueName();
  return open(name, `create database ${name}`);
}
