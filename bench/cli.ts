import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { cpuStealMeter, median, percentile, printTable, round, writeResults, type BenchServer } from './support.js';

const root = new URL('../', import.meta.url);

interface Command {
  label: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/** Wall time of one process from spawn to exit, in milliseconds; fails on a non-zero exit. */
function run(command: Command): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, command.args, { cwd: root, env: { ...process.env, ...command.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command.label} exited ${result.status}: ${String(result.stderr)}`);
  return ms;
}

/**
 * `strata --help`, `--version` and a command that opens the database, compiled (bin/strata.js on
 * dist/) against the same commands run from the sources through tsx (how the CLI ran before it was
 * compiled), with a bare `node -e 0` in the same run as the floor. Runs are interleaved so that a
 * burst of load on the machine falls on every command alike.
 */
export async function runCliBench(server: BenchServer, options: { quick: boolean }): Promise<unknown> {
  const built = new URL('dist/.tsbuildinfo', root);
  if (!existsSync(built)) throw new Error('dist/ is missing: run `npm run build` first');
  console.log(`\ncli: compiled at ${statSync(built).mtime.toISOString()}`);
  const database = await server.freshDatabase('cli');
  const databaseEnv = { DATABASE_URL: database.url, LOG_LEVEL: 'silent' };
  const commands: Command[] = [
    { label: 'node -e 0 (floor)', args: ['-e', '0'] },
    { label: 'strata --help, compiled', args: ['bin/strata.js', '--help'] },
    { label: 'strata --version, compiled', args: ['bin/strata.js', '--version'] },
    { label: 'strata showmigrations, compiled', args: ['bin/strata.js', 'showmigrations'], env: databaseEnv },
    { label: 'strata --help, sources through tsx', args: ['--import', 'tsx', 'src/cli/main.ts', '--help'] },
    { label: 'strata showmigrations, sources through tsx', args: ['--import', 'tsx', 'src/cli/main.ts', 'showmigrations'], env: databaseEnv },
  ];
  const runs = options.quick ? 5 : 15;
  const steal = cpuStealMeter();
  for (const command of commands) run(command); // warm the file cache
  const times = new Map(commands.map((command) => [command.label, [] as number[]]));
  for (let i = 0; i < runs; i += 1) for (const command of commands) times.get(command.label)!.push(run(command));
  const floor = median(times.get(commands[0]!.label)!);
  const rows = commands.map((command) => {
    const values = times.get(command.label)!;
    return { command: command.label, medianMs: round(median(values), 1), p90Ms: round(percentile(values, 90), 1), overFloorMs: round(median(values) - floor, 1) };
  });
  const stealPercent = steal();
  printTable(`CLI start-up: wall time of one process, median and p90 of ${runs} interleaved runs (CPU steal ${stealPercent === null ? '-' : `${stealPercent.toFixed(1)}%`})`, [
    ['command', 'median ms', 'p90 ms', 'over node -e 0'],
    ...rows.map((row) => [row.command, row.medianMs, row.p90Ms, row.overFloorMs]),
  ]);
  const output = { runs, stealPercent, rows };
  console.log(`written to ${await writeResults('cli', output)}`);
  return output;
}
