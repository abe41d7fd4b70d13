import { existsSync, mkdtempSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildWeb, FIRST_VIEW_BUDGET_BYTES, webBuildIsStale } from '../../src/api/web-build.js';

describe('the dashboard build', () => {
  it('bundles the dashboard within its first-view budget of 200 KB gzipped', async () => {
    const outdir = join(mkdtempSync(join(tmpdir(), 'strata-web-')), 'dist');
    const { gzippedBytes } = await buildWeb({ outdir });
    expect(gzippedBytes).toBeGreaterThan(10_000);
    expect(gzippedBytes).toBeLessThanOrEqual(FIRST_VIEW_BUDGET_BYTES);
    expect(readFileSync(join(outdir, 'index.html'), 'utf8')).toContain('/dashboard/app.js');
    for (const file of ['app.js', 'app.css', 'favicon.svg']) expect(existsSync(join(outdir, file))).toBe(true);
    expect(JSON.parse(readFileSync(join(outdir, 'build.json'), 'utf8')).gzippedBytes).toBe(gzippedBytes);
  });

  it('refuses a bundle over its budget and leaves the previous build in place', async () => {
    const outdir = join(mkdtempSync(join(tmpdir(), 'strata-web-')), 'dist');
    mkdirSync(outdir);
    writeFileSync(join(outdir, 'app.js'), 'previous');
    await expect(buildWeb({ outdir, budgetBytes: 1_000 })).rejects.toThrow(/bytes gzipped, over its budget of 1000/);
    expect(readFileSync(join(outdir, 'app.js'), 'utf8')).toBe('previous');
  });

  it('counts a bundle as stale when it is missing or older than any source', async () => {
    const sources = mkdtempSync(join(tmpdir(), 'strata-web-src-'));
    mkdirSync(join(sources, 'src/views'), { recursive: true });
    writeFileSync(join(sources, 'src/views/a.tsx'), 'a');
    expect(await webBuildIsStale(sources)).toBe(true);
    mkdirSync(join(sources, 'dist'));
    writeFileSync(join(sources, 'dist/app.js'), 'built');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(sources, 'src/views/a.tsx'), past, past);
    expect(await webBuildIsStale(sources)).toBe(false);
    utimesSync(join(sources, 'src/views/a.tsx'), new Date(), new Date(Date.now() + 1000));
    expect(await webBuildIsStale(sources)).toBe(true);
  });

  it('counts a bundle as stale when the typed client it bundles is newer, and ignores a missing one', async () => {
    const sources = mkdtempSync(join(tmpdir(), 'strata-web-src-'));
    mkdirSync(join(sources, 'src'));
    writeFileSync(join(sources, 'src/main.tsx'), 'main');
    const client = join(mkdtempSync(join(tmpdir(), 'strata-client-')), 'index.ts');
    writeFileSync(client, 'client');
    mkdirSync(join(sources, 'dist'));
    writeFileSync(join(sources, 'dist/app.js'), 'built');
    const past = new Date(Date.now() - 60_000);
    for (const file of [join(sources, 'src/main.tsx'), client]) utimesSync(file, past, past);
    expect(await webBuildIsStale(sources, join(sources, 'dist'), [client])).toBe(false);
    expect(await webBuildIsStale(sources, join(sources, 'dist'), [join(sources, 'no-such-file.ts')])).toBe(false);
    utimesSync(client, new Date(), new Date(Date.now() + 1000));
    expect(await webBuildIsStale(sources, join(sources, 'dist'), [client])).toBe(true);
  });
});
