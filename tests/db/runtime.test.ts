import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openRuntime } from '../../src/db/runtime.js';
import { migratedDatabase } from '../helpers/database.js';

const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

async function currentDatabase(runtime: Awaited<ReturnType<typeof openRuntime>>): Promise<string> {
  const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(runtime.database.admin);
  return rows[0]!.name;
}

describe('openRuntime', () => {
  it('connects to DATABASE_URL and starts no embedded server', async () => {
    const target = await migratedDatabase();
    const runtime = await openRuntime(loadConfig({ DATABASE_URL: target.url }));
    expect(runtime.embedded).toBeNull();
    expect(await currentDatabase(runtime)).toBe(target.name);
    await runtime.close();
    await expect(sql`select 1`.execute(runtime.database.admin)).rejects.toThrow();
  });

  it('without DATABASE_URL, starts the embedded server in STRATA_DATA_DIR with a "strata" database, and stops it on close', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'strata-runtime-'));
    directories.push(dataDir);
    const lines: string[] = [];
    const runtime = await openRuntime(loadConfig({ STRATA_DATA_DIR: dataDir }), (line) => lines.push(line));
    expect(runtime.embedded?.dataDir).toBe(dataDir);
    expect(new URL(runtime.database.url).pathname).toBe('/strata');
    expect(await currentDatabase(runtime)).toBe('strata');
    expect(lines.length).toBeGreaterThan(0);
    await sql`create table kept (id int)`.execute(runtime.database.admin);
    await runtime.close();
    expect(await stat(join(dataDir, 'pg', 'postmaster.pid')).then(() => true, () => false)).toBe(false);

    // The second start finds the database (and its table) already there.
    const again = await openRuntime(loadConfig({ STRATA_DATA_DIR: dataDir }));
    try {
      const { rows } = await sql<{ found: string | null }>`select to_regclass('kept')::text as found`.execute(again.database.admin);
      expect(rows[0]!.found).toBe('kept');
    } finally {
      await again.close();
    }
  });
});
