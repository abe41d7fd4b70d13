import { join } from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFreshBuild, root } from '../helpers/fresh-build.js';

describe('strata/client, as built', () => {
  beforeAll(() => ensureFreshBuild(), 240_000);

  it('bundles for a browser from the client and openapi-fetch alone, in a few KB', async () => {
    const result = await build({
      entryPoints: [join(root, 'dist/client/index.js')], bundle: true, platform: 'browser', format: 'esm', minify: true, write: false, metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((input) => !/^(dist\/client\/|node_modules\/openapi-fetch\/)/.test(input))).toEqual([]);
    expect(inputs).toContain('dist/client/index.js');
    // Measured: about 6 KB minified, most of it openapi-fetch.
    expect(result.outputFiles[0]!.contents.byteLength).toBeLessThan(16_000);
  });
});
