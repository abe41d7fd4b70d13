import { readFile } from 'node:fs/promises';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean; os?: string[]; cpu?: string[] }>;
};

/** Every installed package of the lockfile with the Node versions it declares (platform binaries for other systems left out). */
function declaredEngines(): Array<{ name: string; node: string }> {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && !Array.isArray(entry.engines) && entry.engines?.node)
    .filter(([, entry]) => !(entry.optional && (entry.os || entry.cpu)))
    .map(([path, entry]) => ({ name: `${path.replace(/^.*node_modules\//, '')}@${entry.version}`, node: (entry.engines as { node: string }).node }));
}

describe('the declared Node engines', () => {
  // npm install prints EBADENGINE for each package whose engines exclude the running Node.
  it('hold for every dependency in the lockfile on the Node that runs the tests', () => {
    const refusing = declaredEngines().filter((entry) => !semver.satisfies(process.version, entry.node));
    expect(refusing).toEqual([]);
    expect(semver.satisfies(process.version, manifest.engines.node)).toBe(true);
  });

  it('are no wider than any dependency\'s: every Node that package.json admits, each dependency admits too', () => {
    const narrower = declaredEngines().filter((entry) => !semver.subset(manifest.engines.node, entry.node));
    expect(narrower).toEqual([]);
  });
});
