import { execFile, execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { migratedDatabase } from '../helpers/database.js';
import { testCli } from './cli-context.js';

const run = promisify(execFile);
const adminKey = `strata_admin_${'W'.repeat(43)}`;
const missing = ['bash', 'curl', 'jq'].filter((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`]);
    return false;
  } catch {
    return true;
  }
});
if (missing.length) console.log(`README walk-through test skipped: ${missing.join(', ')} not installed`);

/** The README's curl walk-through, as a reader would paste it, against this test's server. */
async function walkthrough(api: string): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /A walk-through with curl[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  return block.replace(/^ADMIN=.*$/m, `ADMIN=${adminKey}`).replace(/^API=.*$/m, `API=${api}/v1`);
}

describe.skipIf(missing.length > 0)('the README\'s curl walk-through', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer(testCli(await migratedDatabase(), { PORT: '0', STRATA_ADMIN_KEY: adminKey }).context);
  });

  afterAll(() => server.close());

  it('runs without an error answer, twice on the same database', async () => {
    const script = await walkthrough(server.address);
    for (const round of [1, 2]) {
      // RUN differs between rounds even within one second.
      const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${script.replace(/^RUN=.*$/m, `RUN=$(date +%s)${round}`)}`], { timeout: 60_000 });
      const answers = stdout.trim().split(/(?<=\})(?=\{)|\n/).filter(Boolean).map((text) => JSON.parse(text) as Record<string, unknown>);
      expect(answers.length).toBeGreaterThanOrEqual(8);
      expect(answers.filter((answer) => 'error' in answer)).toEqual([]);
      const audit = answers.at(-1) as { data: Array<{ action: string }> };
      expect(audit.data.length).toBeGreaterThanOrEqual(1);
    }
  });
});
