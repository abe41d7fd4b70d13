import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { jobErrorReporter } from '../../src/cli/serve.js';

const directories: string[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  address: string;
  lines: string[];
  exited: Promise<number | null>;
}

/**
 * `strata serve` on an embedded PostgreSQL with the job scheduler on, in a process group of its own:
 * a signal to the group is what a terminal's Ctrl-C sends, to node and to every postgres process alike.
 */
async function serveEmbedded(dataDir: string): Promise<Served> {
  const { DATABASE_URL: _unset, REDIS_URL: _none, ...environment } = process.env;
  const child = spawn(process.execPath, ['bin/strata.js', 'serve'], {
    env: { ...environment, STRATA_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', STRATA_SCHEDULER: 'on' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  const lines: string[] = [];
  let pending = '';
  const collect = (chunk: Buffer) => {
    pending += chunk.toString();
    const complete = pending.split('\n');
    pending = complete.pop()!;
    lines.push(...complete);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const listening = lines.map((line) => /^Strata listening on (\S+)/.exec(line)).find(Boolean);
      if (listening) {
        clearInterval(timer);
        resolve(listening[1]!);
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`strata serve exited with ${code}:\n${lines.join('\n')}`));
    });
  });
  return { child, address, lines, exited };
}

describe('strata serve on Ctrl-C', () => {
  it('stops HTTP, then the jobs, then the pools, then the embedded database: exits 0 with no job failure and no oversized log line', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'strata-shutdown-'));
    directories.push(dataDir);
    // Twice, the second time on the data the first left: a race lost once in a while shows up more often.
    for (const round of [1, 2]) {
      const served = await serveEmbedded(dataDir);
      expect((await fetch(`${served.address}/ready`)).status).toBe(200);

      process.kill(-served.child.pid!, 'SIGINT');
      const code = await served.exited;

      expect({ round, failed: served.lines.filter((line) => line.includes('scheduled job failed')) }).toEqual({ round, failed: [] });
      expect(served.lines.filter((line) => Buffer.byteLength(line) > 2048).map((line) => line.slice(0, 300))).toEqual([]);
      expect(code).toBe(0);
      expect(served.lines).toContain('SIGINT: shutting down');
      // The embedded server was stopped, not left running: its pid file is gone.
      expect(await stat(join(dataDir, 'pg', 'postmaster.pid')).then(() => 'running', () => 'stopped')).toBe('stopped');
    }
  });
});

describe('the scheduled jobs\' log while the database is down', () => {
  it('is one warning for many lost polls, while a job\'s own failure is logged each time', async () => {
    const refused = await new pg.Pool({ connectionString: 'postgres://strata@127.0.0.1:1/strata' }).query('select 1').catch((error: unknown) => error);
    const warned: { fields: object; message: string }[] = [];
    const report = jobErrorReporter({ warn: (fields, message) => void warned.push({ fields, message }) });
    for (let poll = 0; poll < 50; poll += 1) report(refused);
    report(Object.assign(new Error('relation "widget" does not exist'), { code: '42P01' }));
    expect(warned.map((entry) => entry.message)).toEqual(['database unavailable: scheduled jobs wait for it', 'scheduled job failed']);
    expect(warned[0]!.fields).toMatchObject({ code: 'ECONNREFUSED', suppressed: 0 });
  });
});
