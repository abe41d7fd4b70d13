import { onTestFinished } from 'vitest';
import type { FeedEvents, VersionFeed } from '../../src/caching/version-feed.js';
import { eventually } from './support.js';

/** A feed that proves itself often but trusts each proof long: a loaded machine does not lose it. */
export const STEADY = { heartbeatMs: 10, leaseMs: 1000 };

/** Time for whatever a feed could still report (a connection's close, a few heartbeats) to arrive. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 250));

/** A feed opened on events that record what it reports, closed when the test finishes. */
export function watchFeed(open: (events: FeedEvents) => VersionFeed) {
  const seen = { learned: [] as Array<[string, number]>, proven: [] as number[], lost: [] as string[] };
  const feed = open({
    learn: (scope, version) => seen.learned.push([scope, version]),
    proven: (sentAt) => seen.proven.push(sentAt),
    lost: (reason) => seen.lost.push(reason),
  });
  onTestFinished(() => feed.close());
  const provenSince = (time: number) => eventually(() => {
    if (seen.lost.length > 0) throw new Error(`the feed was lost: ${seen.lost[0]}`);
    return seen.proven.some((sentAt) => sentAt > time);
  }, 'the feed to prove itself current', 5000);
  const lost = () => eventually(() => seen.lost.length > 0, 'the feed to be lost', 5000);
  return { feed, seen, provenSince, lost };
}
