import { expect } from 'vitest';
import type { TestApi } from '../helpers.js';
import { expectError } from './checked-api.js';
import { expectUnchanged } from './db-snapshot.js';

export interface RouteCall {
  method: string;
  url: string;
  body?: unknown;
}

/**
 * Keys that must not open a tenant route: none, garbage, the right shape with an unknown secret,
 * another tenant's id with this tenant's secret, a revoked key, and the admin key.
 */
export function badKeys(api: TestApi, tenant: { id: number; key: string }, revokedKey: string): [string, string | null, Record<string, string>?][] {
  const secret = tenant.key.split('_').pop()!;
  return [
    ['no key', null],
    ['garbage', 'not-a-key'],
    ['unknown secret', `strata_${tenant.id}_${'A'.repeat(43)}`],
    ['secret under another tenant id', `strata_${tenant.id + 1000}_${secret}`],
    ['revoked key', revokedKey],
    ['admin key', api.adminKey],
    ['basic scheme', null, { authorization: `Basic ${tenant.key}` }],
  ];
}

/** Each route refuses each bad key with 401 UNAUTHENTICATED, and no table changes. */
export async function expectAuthRequired(api: TestApi, routes: RouteCall[], tenant: { id: number; key: string }, revokedKey: string) {
  await expectUnchanged(api.database, async () => {
    for (const route of routes) {
      for (const [label, key, headers] of badKeys(api, tenant, revokedKey)) {
        const response = await api.call(route.method, route.url, key, route.body, headers);
        expect(`${route.method} ${route.url} with ${label} → ${response.statusCode}`).toBe(`${route.method} ${route.url} with ${label} → 401`);
        expectError(response, 401, 'UNAUTHENTICATED');
      }
    }
  });
}
