import { beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from './helpers.js';

let api: TestApi;
let tenant: { id: number; key: string };

beforeAll(async () => {
  api = await testApi();
  tenant = await api.tenant('Headers');
});

const directives = (header: unknown) => new Map(String(header).split(';').map((part) => {
  const [name, ...values] = part.trim().split(/\s+/);
  return [name!, values.join(' ')] as const;
}));

// script-src 'self' blocks both; the browser test (tests/web) proves the pages run under their policy.
function expectNoInlineOrForeignScript(page: string): void {
  expect(page).toMatch(/<script[^>]* src="/);
  expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(page).not.toMatch(/src="(https?:)?\/\//);
}

describe('security headers', () => {
  it('sends helmet\'s headers and the strict policy on the dashboard, its files and every /v1 answer, errors included', async () => {
    for (const [url, key, status] of [
      ['/', null, 302], ['/dashboard/', null, 200], ['/dashboard/app.js', null, 200],
      ['/v1/users', tenant.key, 200], ['/v1/users', null, 401], ['/v1/users/999999', tenant.key, 404],
    ] as const) {
      const response = await api.call('GET', url, key);
      expect([url, response.statusCode]).toEqual([url, status]);
      expect(response.headers).toMatchObject({
        'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin', 'cross-origin-resource-policy': 'same-origin',
      });
      const csp = directives(response.headers['content-security-policy']);
      expect([url, csp.get('default-src'), csp.get('script-src'), csp.get('style-src'), csp.get('frame-ancestors'), csp.get('object-src')])
        .toEqual([url, "'self'", "'self'", "'self'", "'none'", "'none'"]);
      // Would send the dashboard's own files to https:// on a server reached over plain HTTP.
      expect(csp.has('upgrade-insecure-requests')).toBe(false);
    }
  });

  it('relaxes only the style policy for Swagger UI at /docs, which still serves its page and scripts', async () => {
    for (const url of ['/docs', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui-bundle.js']) {
      const response = await api.call('GET', url, null);
      expect([url, response.statusCode]).toEqual([url, 200]);
      const csp = directives(response.headers['content-security-policy']);
      expect([url, csp.get('script-src'), csp.get('style-src'), csp.get('default-src')]).toEqual([url, "'self'", "'self' 'unsafe-inline'", "'self'"]);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
    expectNoInlineOrForeignScript((await api.call('GET', '/docs/', null)).body);
  });

  it('serves a dashboard page the strict policy allows: no inline script, style or handler, nothing from elsewhere', async () => {
    const page = (await api.call('GET', '/dashboard/', null)).body;
    expectNoInlineOrForeignScript(page);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=|href="https?:/i);
  });
});
