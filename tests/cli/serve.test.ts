import { createServer, type Server } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { errorLines } from '../../src/cli/failure.js';
import { startServer } from '../../src/cli/server.js';
import { migrationNames } from '../../src/db/migrator.js';
import { emptyDatabase, migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { testCli } from './cli-context.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as { port: number }).port, server };
}

describe('strata serve', () => {
  it('serves /health and /ready on the configured port, and close() stops it and closes the runtime', async () => {
    const cli = testCli(database, { PORT: '0' });
    const server = await startServer(cli.context);
    expect(server.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(cli.out.at(-2)).toMatch(/^Strata listening on http:\/\/127\.0\.0\.1:\d+ \(DATABASE_URL\), ready in \d+ ms$/);
    expect(cli.out.at(-1)).toMatch(new RegExp(`^  dashboard ${server.address}/   API docs ${server.address}/docs   admin key: `));
    expect((await fetch(`${server.address}/docs`)).status).toBe(200);
    expect((await fetch(`${server.address}/health`)).status).toBe(200);
    expect(await (await fetch(`${server.address}/ready`)).json()).toMatchObject({ status: 'ready', checks: { database: 'up' } });

    await server.close();
    expect(cli.runtimes).toEqual({ opened: 1, closed: 1 });
    await expect(fetch(`${server.address}/health`)).rejects.toThrow();
  });

  it('applies pending migrations before it listens, and says which', async () => {
    const cli = testCli(await emptyDatabase(), { PORT: '0' });
    const server = await startServer(cli.context);
    try {
      expect(cli.out[0]).toBe(migrationNames().map((name) => `applied ${name}`).join('\n'));
      expect((await fetch(`${server.address}/ready`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('closes the runtime and reports the error when a migration fails, without listening', async () => {
    const database = await emptyDatabase();
    await sql`create table tenant (id int)`.execute(database.admin);
    const cli = testCli(database, { PORT: '0' });
    await expect(startServer(cli.context)).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
    expect(cli.runtimes).toEqual({ opened: 1, closed: 1 });
    expect(cli.out.join('\n')).not.toMatch(/listening/);
  });

  it('names where the admin key came from: generated and printed, printed at the first start, or STRATA_ADMIN_KEY', async () => {
    const fresh = await migratedDatabase();
    const startLine = async (env: Record<string, string>) => {
      const cli = testCli(fresh, { PORT: '0', ...env });
      await (await startServer(cli.context)).close();
      return { first: cli.out[0], last: cli.out.at(-1) };
    };
    const generated = await startLine({});
    expect(generated.first).toMatch(/^Admin API key \(shown once/);
    expect(generated.last).toMatch(/admin key: generated now, printed above$/);
    expect((await startLine({})).last).toMatch(/admin key: the one printed at the first start \(stored hashed only; set STRATA_ADMIN_KEY to use your own\)$/);
    expect((await startLine({ STRATA_ADMIN_KEY: `strata_admin_${'K'.repeat(43)}` })).last).toMatch(/admin key: STRATA_ADMIN_KEY$/);
  });

  it('refuses a port in use with ADDRESS_IN_USE and a hint, and closes the runtime', async () => {
    const taken = await occupiedPort();
    try {
      const cli = testCli(database, { PORT: String(taken.port) });
      const failure = await startServer(cli.context).catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'ADDRESS_IN_USE', message: `127.0.0.1:${taken.port} is already in use by another process` });
      expect(errorLines(failure)).toEqual([
        `error ADDRESS_IN_USE: 127.0.0.1:${taken.port} is already in use by another process`,
        expect.stringMatching(new RegExp(`^  hint: another \`strata serve\` may be running .*PORT=${taken.port + 1} npm start`)),
      ]);
      expect(cli.runtimes).toEqual({ opened: 1, closed: 1 });
    } finally {
      taken.server.close();
    }
  });

  it('shuts down on SIGTERM: stops serving, closes the runtime, exits 0', async () => {
    const cli = testCli(database, { PORT: '0' });
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const before = new Set(process.listeners('SIGTERM'));
    const beforeInt = new Set(process.listeners('SIGINT'));
    await cli.program().parseAsync(['serve'], { from: 'user' });
    const onTerm = process.listeners('SIGTERM').find((listener) => !before.has(listener));
    const onInt = process.listeners('SIGINT').find((listener) => !beforeInt.has(listener));
    expect(onTerm).toBeDefined();
    expect(onInt).toBeDefined();
    const address = /listening on (\S+)/.exec(cli.out.join('\n'))![1]!;
    expect((await fetch(`${address}/health`)).status).toBe(200);

    process.removeListener('SIGTERM', onTerm!);
    process.removeListener('SIGINT', onInt!);
    (onTerm as (signal: string) => void)('SIGTERM');
    (onInt as (signal: string) => void)('SIGINT');
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0));
    expect(exit).toHaveBeenCalledTimes(1);
    expect(cli.out.filter((line) => line.endsWith('shutting down'))).toEqual(['SIGTERM: shutting down']);
    expect(cli.out).toContain('SIGTERM: shutting down');
    expect(cli.runtimes).toEqual({ opened: 1, closed: 1 });
    await expect(fetch(`${address}/health`)).rejects.toThrow();
  });
});
