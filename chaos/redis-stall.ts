import { generateAdminKey } from '../src/services/api-keys.js';
import { openFaultyLink, type FaultyLink } from '../tests/helpers/faulty-link.js';
import type { Figures } from './support/figures.js';
import { freePort, privateRedis, scratchDatabase, sleep, startServer, type Scope } from './support/processes.js';
import { call, outcomeOf, Outcomes, tenantWithUser } from './support/traffic.js';

/**
 * A writer and a reader `strata serve` share a redis-server of the scenario's own, each through a
 * TCP proxy of its own. While the writer replaces a profile and creates and revokes keys, each link
 * is stalled in turn, the reader's is cut, and Redis restarts empty. A read that starts after a PUT
 * answered must show that PUT or a later one, and a key must be refused once its DELETE answered.
 */
export async function redisStall(scope: Scope, options: { serverUrl: string; random: () => number }): Promise<Figures> {
  const databaseUrl = await scratchDatabase(scope, options.serverUrl, 'redis_stall');
  const redis = await privateRedis(scope);
  const link = async (): Promise<FaultyLink> => {
    const opened = await openFaultyLink(redis.url);
    scope.defer(() => opened.close());
    return opened;
  };
  const [writerLink, readerLink] = [await link(), await link()];
  const adminKey = generateAdminKey();
  const env = (redisUrl: string) => ({ DATABASE_URL: databaseUrl, STRATA_ADMIN_KEY: adminKey, REDIS_URL: redisUrl, CACHE_KEY_PREFIX: `chaos-${process.pid}` });
  const [writer, reader] = await Promise.all([
    startServer(scope, await freePort(), env(writerLink.url)),
    startServer(scope, await freePort(), env(readerLink.url)),
  ]);
  const { key, userId } = await tenantWithUser(writer.url, adminKey, 'redis-stall');

  const outcomes = new Outcomes();
  const counted = <T extends { status: number } | string>(answer: T) => {
    outcomes.add(typeof answer === 'string' ? answer : answer.status);
    return answer;
  };
  let running = true;
  let answeredVersion = 0;
  let writes = 0;
  let reads = 0;
  let staleProfiles = 0;
  let revocations = 0;
  let revokedChecks = 0;
  let revokedAccepted = 0;

  const writerLoop = async () => {
    for (let version = 1; running; version += 1) {
      const answer = counted(await outcomeOf(call(writer.url, 'PUT', `/v1/users/${userId}/profile`, { key, body: { bio: `v${version}` } })));
      if (typeof answer !== 'string' && answer.status === 200) {
        answeredVersion = version;
        writes += 1;
      }
      await sleep(20);
    }
  };
  const readerLoop = async () => {
    while (running) {
      // The PUT answered before this read starts; an older bio in its answer is stale.
      const floor = answeredVersion;
      const answer = counted(await outcomeOf(call(reader.url, 'GET', `/v1/users/${userId}/full`, { key })));
      reads += 1;
      if (typeof answer !== 'string' && answer.status === 200 && Number(String(answer.body.data.profile.bio).slice(1)) < floor) staleProfiles += 1;
      await sleep(5);
    }
  };
  const keyLoop = async () => {
    for (let round = 0; running; round += 1) {
      await sleep(20);
      const created = counted(await outcomeOf(call(writer.url, 'POST', '/v1/api-keys', { key, body: { name: `chaos-${round}` } })));
      if (typeof created === 'string' || created.status !== 201) continue;
      const issued: { id: number; key: string } = created.body.data;
      // Twice, so the reader's session cache holds the key when it is revoked.
      for (let warm = 0; warm < 2; warm += 1) counted(await outcomeOf(call(reader.url, 'GET', '/v1/api-keys?limit=1', { key: issued.key })));
      const revoked = counted(await outcomeOf(call(writer.url, 'DELETE', `/v1/api-keys/${issued.id}`, { key })));
      if (typeof revoked === 'string' || revoked.status !== 204) continue;
      revocations += 1;
      for (let check = 0; check < 3; check += 1) {
        const answer = await outcomeOf(call(reader.url, 'GET', '/v1/api-keys?limit=1', { key: issued.key }));
        revokedChecks += 1;
        if (typeof answer !== 'string' && answer.status === 401) continue;
        if (typeof answer !== 'string' && answer.status < 300) revokedAccepted += 1;
        else counted(answer);
      }
    }
  };
  const traffic = Promise.all([writerLoop(), readerLoop(), readerLoop(), keyLoop()]);

  const hold = () => sleep(1500 + options.random() * 1500);
  const faults: string[] = [];
  await sleep(2000);
  for (const [name, faulty] of [['writer', writerLink], ['reader', readerLink]] as const) {
    faulty.stall();
    await hold();
    faulty.heal();
    faults.push(`${name}'s link stalled`);
    await sleep(1500);
  }
  readerLink.cut();
  await hold();
  readerLink.heal();
  faults.push("reader's link cut");
  await sleep(1500);
  await redis.stop();
  await sleep(1000);
  await redis.start();
  const restarted = performance.now();
  faults.push('Redis restarted empty');
  // Recovery: until the reader serves profiles from Redis again.
  const hitsBefore = await queryHits(reader.url, adminKey);
  let resumedAt: number | null = null;
  while (performance.now() - restarted < 10_000) {
    if ((await queryHits(reader.url, adminKey)) > hitsBefore) {
      resumedAt = performance.now();
      break;
    }
    await sleep(50);
  }
  await sleep(1500);
  running = false;
  await traffic;

  return {
    sent: reads + revokedChecks,
    acknowledged: writes + revocations,
    stored: null,
    lost: 0,
    duplicated: 0,
    stale: staleProfiles + revokedAccepted,
    failed: outcomes.failures(),
    recoveryMs: resumedAt === null ? null : resumedAt - restarted,
    notes: [
      `sent: ${reads} profile reads on the reader + ${revokedChecks} requests with a revoked key; acknowledged: ${writes} profile PUTs + ${revocations} key revocations on the writer`,
      `stale: ${staleProfiles} profiles older than the last answered PUT, ${revokedAccepted} revoked keys accepted`,
      `faults: ${faults.join(', ')}; recovery: Redis accepting connections → the reader's first profile served from Redis again`,
    ],
    violations: resumedAt === null ? ['the reader never served from Redis again within 10 s of its restart'] : [],
  };
}

/** The reader's query-cache hits served by Redis, from its /metrics. */
async function queryHits(base: string, adminKey: string): Promise<number> {
  const answer = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
  const match = /^strata_cache_hits_total\{layer="query",backend="redis"\} (\d+)$/m.exec(await answer.text());
  return match ? Number(match[1]) : 0;
}
