/**
 * How an instance hears the scope versions PostgreSQL commits: over LISTEN on a single server
 * (notify-feed.ts), by polling every node on a Citus cluster (poll-feed.ts). A feed reports what it
 * learns and how current it provably is; the versions it serves from decide what to trust.
 */
export interface FeedEvents {
  /** A scope's version, as committed. */
  learn(scope: string, version: number): void;
  /**
   * Every commit made before `sentAt` (a performance.now() time) is known: learned, or made after
   * nothing was known any more, so that reading it now finds it.
   */
  proven(sentAt: number): void;
  /** The feed may have missed a commit (a connection lost, a node silent): it stops here. */
  lost(reason: string): void;
}

export interface FeedOptions {
  /** The server (a cluster's coordinator) to connect to: a connection of the feed's own, never the pool's. */
  url: string;
  /** How often the feed proves it is current. */
  heartbeatMs: number;
  /** How long one proof is trusted: a feed silent for ten times this long is lost. */
  leaseMs: number;
  /** On a cluster: the address to reach a worker at, given the one its node list names. */
  nodeUrl?: (url: string) => string;
}

export interface VersionFeed {
  close(): Promise<void>;
}
