import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const root = fileURLToPath(new URL('../../', import.meta.url));

async function sourcesNewerThanBuild(): Promise<boolean> {
  const builtAt = await stat(join(root, 'dist/.tsbuildinfo')).then((info) => info.mtimeMs, () => 0);
  const sources = await readdir(join(root, 'src'), { recursive: true, withFileTypes: true });
  for (const entry of sources) {
    if (entry.isFile() && entry.name.endsWith('.ts') && (await stat(join(entry.parentPath, entry.name))).mtimeMs > builtAt) return true;
  }
  return false;
}

/**
 * Test files run in parallel workers: one builds while the others wait, then find the build fresh.
 * A lock left by a killed run is taken over after five minutes.
 */
async function withBuildLock(work: () => Promise<void>): Promise<void> {
  const lock = join(root, 'dist/.build-lock');
  await mkdir(join(root, 'dist'), { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const heldSince = await stat(lock).then((info) => info.mtimeMs, () => Date.now());
      if (Date.now() - heldSince > 300_000) await rm(lock, { recursive: true, force: true });
      await sleep(250);
    }
  }
  try {
    await work();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * Makes dist/ (and the client's generated types) match src/: npm install built it (prepare); a
 * stale build, after an edit, is rebuilt first, so a test of the built package tests this source.
 */
export async function ensureFreshBuild(): Promise<void> {
  await withBuildLock(async () => {
    if (await sourcesNewerThanBuild()) await run('npm', ['run', 'build:lib', '--loglevel=error'], { cwd: root, timeout: 180_000 });
  });
}
