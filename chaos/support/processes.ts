import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { withDatabaseName } from '../../src/db/database.js';

/**
 * Everything one scenario started, undone in reverse order when it ends, fails or runs over its
 * budget: a fault suite that leaves a server or a database behind is a fault of its own.
 */
export class Scope {
  private readonly undo: Array<() => Promise<void>> = [];
  private closed = false;

  defer(fn: () => Promise<void>): void {
    this.undo.push(fn);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const fn of this.undo.splice(0).reverse()) {
      await fn().catch((error: unknown) => console.error(`  cleanup failed: ${(error as Error).message}`));
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The last few KB a process printed, for the error that explains why it stopped. */
function tail(child: ChildProcess): () => string {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => output;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

/** SIGTERM, then SIGKILL after `graceMs`: a cleanup that never finishes would hold the suite. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** `node bin/strata.js ARGS` with the suite's environment; stopped with its scope. */
export function spawnStrata(scope: Scope, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['bin/strata.js', ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', STRATA_SCHEDULER: 'off', RATE_LIMIT_PER_MINUTE: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  scope.defer(() => stopChild(child));
  return child;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

export async function runStrata(scope: Scope, args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawnStrata(scope, args, env);
  const output = tail(child);
  await exited(child);
  return { code: child.exitCode, signal: child.signalCode, output: output() };
}

export interface ServerProcess {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** When it printed that it listens (performance.now()). */
  readonly listeningAt: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `strata serve` on 127.0.0.1:`port`, resolved once it listens. */
export async function startServer(scope: Scope, port: number, env: Record<string, string>): Promise<ServerProcess> {
  const child = spawnStrata(scope, ['serve'], { HOST: '127.0.0.1', PORT: String(port), ...env });
  const output = tail(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', () => {
      if (/listening on http/.test(output())) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`strata serve exited with ${code ?? signal}: ${output()}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    listeningAt: performance.now(),
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited(child);
    },
  };
}

async function onServer(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A database of the scenario's own on `serverUrl`, migrated by `strata migrate`, dropped with the scope. */
export async function scratchDatabase(scope: Scope, serverUrl: string, name: string): Promise<string> {
  const database = `strata_chaos_${process.pid}_${name}`;
  await onServer(serverUrl, `drop database if exists ${database} with (force)`);
  await onServer(serverUrl, `create database ${database}`);
  scope.defer(() => onServer(serverUrl, `drop database if exists ${database} with (force)`));
  const url = withDatabaseName(serverUrl, database);
  const migrated = await runStrata(scope, ['migrate'], { DATABASE_URL: url });
  if (migrated.code !== 0) throw new Error(`strata migrate failed: ${migrated.output}`);
  return url;
}

export interface RedisServer {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server of the scenario's own, without persistence: a restart brings it back empty. */
export async function privateRedis(scope: Scope): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'strata-chaos-redis-'));
  let child: ChildProcess | undefined;
  const redis: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const output = tail(started);
      await new Promise<void>((resolve, reject) => {
        started.stdout.on('data', () => {
          if (output().includes('Ready to accept connections')) resolve();
        });
        started.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output()}`)));
      });
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running) await stopChild(running);
    },
  };
  scope.defer(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await redis.start();
  return redis;
}

export interface PostgresServer {
  /** A connection URL to its `postgres` database, as the superuser `root`. */
  readonly url: string;
  start(): Promise<void>;
  /** `immediate`: no checkpoint, every backend dropped, as a crash would. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
}

const PG_BIN = process.env.CHAOS_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** PostgreSQL refuses to run as root: as root, its commands run as the OS user `postgres`. */
async function asPostgres(command: string, args: string[]): Promise<string> {
  const [file, argv] = process.getuid?.() === 0
    ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, command), ...args]]
    : [join(PG_BIN, command), args];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tail(child);
  await exited(child);
  if (child.exitCode !== 0) throw new Error(`${command} exited with ${child.exitCode}: ${output()}`);
  return output();
}

/**
 * A throwaway PostgreSQL cluster in a temporary directory, to stop and start at will (the shared
 * server is never restarted). fsync stays on: the scenario is about what survives a crash.
 */
export async function privatePostgres(scope: Scope): Promise<PostgresServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'strata-chaos-pg-'));
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresIds();
    await chown(dir, uid, gid);
  }
  await chmod(dir, 0o700);
  const data = join(dir, 'data');
  await asPostgres('initdb', ['-D', data, '-U', 'root', '--auth=trust', '--no-sync']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c max_connections=60 -c shared_buffers=32MB`;
  const server: PostgresServer = {
    url: `postgres://root@127.0.0.1:${port}/postgres`,
    async start() {
      await asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '30', 'start']);
    },
    async stop(mode) {
      await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']).catch(() => undefined);
    },
  };
  scope.defer(async () => {
    await server.stop('immediate');
    await rm(dir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const child = spawn('id', ['postgres'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const output = tail(child);
  await exited(child);
  const uid = /uid=(\d+)/.exec(output());
  const gid = /gid=(\d+)/.exec(output());
  if (!uid || !gid) throw new Error('no OS user postgres to run a PostgreSQL server as (useradd --system --user-group postgres)');
  return { uid: Number(uid[1]), gid: Number(gid[1]) };
}
