import { describe, expect, it } from 'vitest';
import { CacheKeys } from '../../src/caching/keys.js';

// Every key the caches use, spelled out: Redis keys outlive a deploy, the database's triggers name
// the same scopes, and each write's evict list and layers decide what the next read may serve.
const keys = new CacheKeys('ns');

describe('CacheKeys names', () => {
  it('names the invalidation channel and a value key under the namespace', () => {
    expect(keys.namespace).toBe('ns');
    expect(keys.channel).toBe('ns:invalidations');
    expect(keys.value('session', 7, 'digest')).toBe('ns:session:7:digest');
    expect(keys.value('profile', 7, 42)).toBe('ns:profile:7:42');
  });

  it('names the version keys: the tenant\'s, and its sessions, one user and its analytics under it', () => {
    expect(keys.tenantScope(7)).toBe('ns:version:7');
    expect(keys.sessionsScope(7)).toBe('ns:version:7:sessions');
    expect(keys.userScope(7, 42)).toBe('ns:version:7:user:42');
    expect(keys.analyticsScope(7)).toBe('ns:version:7:analytics');
  });

  it('names a scope for the database without the namespace, as cache_version holds it', () => {
    expect(keys.databaseScope('ns:version:7')).toBe('7');
    expect(keys.databaseScope('ns:version:7:user:42')).toBe('7:user:42');
    expect(new CacheKeys('a:b').databaseScope('a:b:version:3:sessions')).toBe('3:sessions');
  });

  it('names a write\'s mark after its scope', () => {
    expect(keys.intent('ns:version:7:user:42')).toBe('ns:version:7:user:42:writing');
  });
});

describe('CacheKeys targets', () => {
  it('a user write bumps the user\'s version and evicts its profile value, in the query layer', () => {
    expect(keys.user(7, 42)).toEqual({ scope: 'ns:version:7:user:42', evict: ['ns:profile:7:42'], layers: ['query'] });
  });

  it('a key change bumps the tenant\'s sessions version and evicts all of its sessions, in the session layer', () => {
    expect(keys.sessions(7)).toEqual({ scope: 'ns:version:7:sessions', evict: ['ns:session:7:'], layers: ['session'] });
  });

  it('an analytics write evicts the tenant\'s analytics summaries and HTTP responses, in the query and response layers', () => {
    expect(keys.analytics(7)).toEqual({
      scope: 'ns:version:7:analytics',
      evict: ['ns:analytics:7:', 'ns:response:7:'],
      layers: ['query', 'response'],
    });
  });

  it('a tenant delete bumps the tenant\'s version, evicts every kind of its values in every layer, and drops the tenant', () => {
    expect(keys.tenant(7)).toEqual({
      scope: 'ns:version:7',
      evict: ['ns:session:7:', 'ns:profile:7:', 'ns:analytics:7:', 'ns:response:7:'],
      layers: ['session', 'query', 'response'],
      dropTenant: 7,
    });
    // Only the tenant delete drops keys: the others only make them unreachable.
    for (const target of [keys.user(7, 1), keys.sessions(7), keys.analytics(7)]) expect(target).not.toHaveProperty('dropTenant');
  });

  it('lists the SCAN patterns of a deleted tenant: every kind of value and the versions under its own', () => {
    expect(keys.tenantPatterns(7)).toEqual([
      'ns:session:7:*', 'ns:profile:7:*', 'ns:analytics:7:*', 'ns:response:7:*', 'ns:version:7:*',
    ]);
  });
});
