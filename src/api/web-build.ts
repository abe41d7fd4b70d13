import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The dashboard's sources (`web/`) and the folder its bundle is written to (`web/dist/`, never committed). */
export const webSources = fileURLToPath(new URL('../../web/', import.meta.url));
export const webDist = join(webSources, 'dist');
/**
 * Sources outside `web/` that the bundle takes in: the typed client's runtime (`web/src/api.ts`
 * calls the API through it). A packaged install has no `src/`: a missing file counts as old.
 */
export const sharedWebSources = [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))];

/** What a first visit downloads (script and style), gzipped: the budget the build refuses to exceed. */
export const FIRST_VIEW_BUDGET_BYTES = 200 * 1024;

const STATIC_FILES = ['index.html', 'favicon.svg'];

export interface WebBuild {
  outdir: string;
  gzippedBytes: number;
}

async function newestSourceMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestSourceMtime(path) : (await stat(path)).mtimeMs);
  }
  return newest;
}

/** True when the bundle is missing or older than any of its sources. */
export async function webBuildIsStale(sources = webSources, outdir = join(sources, 'dist'), shared = sharedWebSources): Promise<boolean> {
  const built = await stat(join(outdir, 'app.js')).then((info) => info.mtimeMs, () => 0);
  if (built === 0) return true;
  const sharedTimes = await Promise.all(shared.map((file) => stat(file).then((info) => info.mtimeMs, () => 0)));
  return built < Math.max(await newestSourceMtime(sources), ...sharedTimes);
}

/**
 * Bundles the dashboard with esbuild into a temporary folder and renames it into place, so a server
 * or a parallel test never serves half a build; fails when the first view is over its budget.
 */
export async function buildWeb(options: { sources?: string; outdir?: string; budgetBytes?: number } = {}): Promise<WebBuild> {
  const sources = options.sources ?? webSources;
  const outdir = options.outdir ?? join(sources, 'dist');
  const staging = `${outdir}.${process.pid}.${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    await build({
      entryPoints: { app: join(sources, 'src/main.tsx') },
      outdir: staging,
      bundle: true,
      minify: true,
      format: 'esm',
      target: ['chrome110', 'firefox110', 'safari16'],
      jsx: 'automatic',
      jsxImportSource: 'preact',
      legalComments: 'none',
      logLevel: 'silent',
    });
    for (const file of STATIC_FILES) await copyFile(join(sources, file), join(staging, file));
    let gzippedBytes = 0;
    for (const file of ['app.js', 'app.css']) {
      gzippedBytes += gzipSync(await readFile(join(staging, file)), { level: 9 }).length;
    }
    const budget = options.budgetBytes ?? FIRST_VIEW_BUDGET_BYTES;
    if (gzippedBytes > budget) {
      throw new Error(`dashboard bundle is ${gzippedBytes} bytes gzipped, over its budget of ${budget}`);
    }
    await writeFile(join(staging, 'build.json'), JSON.stringify({ gzippedBytes, builtAt: new Date().toISOString() }));
    // A parallel build (another test file, another instance) that finished first is kept as it is.
    if (!(await webBuildIsStale(sources, outdir))) {
      await rm(staging, { recursive: true, force: true });
      return { outdir, gzippedBytes };
    }
    await rm(outdir, { recursive: true, force: true });
    // A parallel build (another test file, another instance) may have put its own in place first.
    await rename(staging, outdir).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      await rm(staging, { recursive: true, force: true });
    });
    return { outdir, gzippedBytes };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Builds the dashboard when its bundle is missing or stale: `npm start` on a fresh clone serves it. */
export async function ensureWebBuilt(): Promise<void> {
  if (await webBuildIsStale()) await buildWeb();
}
