#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm install` runs). In a checkout
// whose sources changed since that build, runs the sources through tsx instead, so an edit takes
// effect at once; `npm run build` makes it fast again.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const built = new URL('dist/cli/main.js', root);
const buildStamp = new URL('dist/.tsbuildinfo', root);
const sources = new URL('src/', root);

/** True when a file under src/ is newer than the last build (about 2 ms for the whole tree). */
function sourcesChangedSinceBuild() {
  if (!existsSync(new URL('cli/main.ts', sources))) return false; // an installed package ships no sources
  if (!existsSync(buildStamp)) return true;
  const builtAt = statSync(buildStamp).mtimeMs;
  return readdirSync(sources, { recursive: true, withFileTypes: true })
    .some((entry) => entry.isFile() && entry.name.endsWith('.ts') && statSync(`${entry.parentPath}/${entry.name}`).mtimeMs > builtAt);
}

if (sourcesChangedSinceBuild()) {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('error: strata is not built and tsx is not installed to run its sources: run `npm run build`\n');
    process.exit(1);
  }
  process.stderr.write('strata: src/ changed since the last build: running the sources (slower); `npm run build` compiles them\n');
  tsx.register();
  await import('../src/cli/main.ts');
} else {
  await import(built.href);
}
