import { Agent, request } from 'node:http';
import { activityRows, median, msSince, percentile, round } from './support.js';

export interface LoadRequest {
  origin: string;
  keys: string[];
  /** userIds[k] are the users of keys[k]'s tenant. */
  userIds: number[][];
  batch: number;
  connections: number;
  seconds: number;
}

export interface LoadReport {
  requests: number;
  rowsAccepted: number;
  failed: number;
  seconds: number;
  medianMs: number;
  p99Ms: number;
}

/**
 * A small closed-loop load generator (autocannon is not a dependency): each connection sends its next
 * batch as soon as the previous answer arrives, for a fixed time. Bodies are serialized before the
 * clock starts: the measure is the server's, not this client's JSON.stringify.
 */
async function generate(load: LoadRequest): Promise<LoadReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: load.connections });
  const bodies = load.keys.map((_, index) => Array.from({ length: 4 }, (__, variant) => Buffer.from(JSON.stringify({
    activities: activityRows(load.batch, load.userIds[index]!, variant * load.batch).map((row) => ({
      userId: row.user_id, type: row.activity_type, metadata: row.metadata, createdAt: row.created_at,
    })),
  }))));
  const post = (key: string, body: Buffer) => new Promise<number>((resolve, reject) => {
    const sent = request(`${load.origin}/v1/activities`, {
      method: 'POST', agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': body.length },
    }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    sent.on('error', reject);
    sent.end(body);
  });
  const latencies: number[] = [];
  let rowsAccepted = 0;
  let failed = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + load.seconds * 1000;
  await Promise.all(Array.from({ length: load.connections }, async (_, connection) => {
    for (let sent = 0; Date.now() < deadline; sent += 1) {
      const tenant = (connection + sent * load.connections) % load.keys.length;
      const requestStarted = process.hrtime.bigint();
      const status = await post(load.keys[tenant]!, bodies[tenant]![sent % 4]!);
      latencies.push(msSince(requestStarted));
      if (status === 201) rowsAccepted += load.batch;
      else failed += 1;
    }
  }));
  const seconds = msSince(started) / 1000;
  agent.destroy();
  return { requests: latencies.length, rowsAccepted, failed, seconds: round(seconds, 2), medianMs: round(median(latencies)), p99Ms: round(percentile(latencies, 99)) };
}

process.once('message', (load) => {
  generate(load as LoadRequest).then((report) => {
    process.send!(report, () => process.exit(0));
  }, (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
