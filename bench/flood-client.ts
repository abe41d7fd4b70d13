import { Agent, request } from 'node:http';
import { activityRows, msSince, percentile, round } from './support.js';

export interface FloodRequest {
  origin: string;
  /** Keys that flood; readerKey reads. */
  floodKeys: string[];
  floodUserIds: number[][];
  readerKey: string;
  readerUserId: number;
  batch: number;
  connections: number;
  idleSeconds: number;
  floodSeconds: number;
  /** A client gives up on an answer after this long, as the fault report's clients did. */
  clientTimeoutMs: number;
}

export interface ReadStats {
  count: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface FloodReport {
  idleReads: ReadStats;
  floodReads: ReadStats;
  firstReadAfterMs: number;
  accepted: number;
  rowsAccepted: number;
  overloaded: number;
  rateLimited: number;
  gaveUp: number;
  otherFailures: number;
  floodSeconds: number;
  acceptedMedianMs: number;
  acceptedP99Ms: number;
}

const stats = (values: number[]): ReadStats => ({
  count: values.length, medianMs: round(percentile(values, 50)), p99Ms: round(percentile(values, 99)), maxMs: round(Math.max(...values)),
});

/**
 * The fault report's flood from a process of its own: `connections` clients post batches in a closed
 * loop (waiting Retry-After when refused, giving up after clientTimeoutMs), while one reader reads
 * the newest activities of its own tenant one request at a time, first alone, then during the flood.
 */
async function flood(load: FloodRequest): Promise<FloodReport> {
  const bodies = load.floodKeys.map((_, index) => Buffer.from(JSON.stringify({
    activities: activityRows(load.batch, load.floodUserIds[index]!).map((row) => ({
      userId: row.user_id, type: row.activity_type, metadata: row.metadata, createdAt: row.created_at,
    })),
  })));
  const floodAgent = new Agent({ keepAlive: true, maxSockets: load.connections });
  const readAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (agent: Agent, method: string, path: string, key: string, body?: Buffer) => new Promise<{ status: number; retryAfter: number }>((resolve) => {
    const sent = request(`${load.origin}${path}`, {
      method, agent, timeout: load.clientTimeoutMs,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}) },
    }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: Number(response.headers['retry-after'] ?? 0) }));
    });
    sent.on('timeout', () => sent.destroy(new Error('gave up')));
    // A refused body may be cut off while it is still being sent: the status already arrived, or it counts as a failure.
    sent.on('error', (error) => resolve({ status: error.message === 'gave up' ? -1 : 0, retryAfter: 0 }));
    sent.end(body);
  });
  const readPath = `/v1/activities?userId=${load.readerUserId}&limit=10`;
  const read = async () => {
    const started = process.hrtime.bigint();
    const { status } = await send(readAgent, 'GET', readPath, load.readerKey);
    if (status !== 200) throw new Error(`a read answered ${status}`);
    return msSince(started);
  };
  const readFor = async (until: () => boolean) => {
    const latencies: number[] = [];
    while (!until()) latencies.push(await read());
    return latencies;
  };

  for (let warm = 0; warm < 20; warm += 1) await read();
  const idleDeadline = Date.now() + load.idleSeconds * 1000;
  const idleReads = await readFor(() => Date.now() >= idleDeadline);

  const report = { accepted: 0, overloaded: 0, rateLimited: 0, gaveUp: 0, otherFailures: 0 };
  const acceptedLatencies: number[] = [];
  let flooding = true;
  const started = process.hrtime.bigint();
  const floodDeadline = Date.now() + load.floodSeconds * 1000;
  const clients = Promise.all(Array.from({ length: load.connections }, async (_, connection) => {
    for (let sent = 0; Date.now() < floodDeadline; sent += 1) {
      const tenant = (connection + sent) % load.floodKeys.length;
      const requestStarted = process.hrtime.bigint();
      const { status, retryAfter } = await send(floodAgent, 'POST', '/v1/activities', load.floodKeys[tenant]!, bodies[tenant]);
      if (status === 201) {
        report.accepted += 1;
        acceptedLatencies.push(msSince(requestStarted));
      } else if (status === 503 || status === 429) {
        if (status === 503) report.overloaded += 1;
        else report.rateLimited += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfter, 5) * 1000));
      } else if (status === -1) report.gaveUp += 1;
      else report.otherFailures += 1;
    }
  })).then(() => { flooding = false; });
  const floodReads = await readFor(() => !flooding);
  await clients;
  const floodSeconds = msSince(started) / 1000;
  const firstReadAfterMs = round(await read());
  floodAgent.destroy();
  readAgent.destroy();
  return {
    idleReads: stats(idleReads), floodReads: stats(floodReads), firstReadAfterMs, ...report,
    rowsAccepted: report.accepted * load.batch, floodSeconds: round(floodSeconds, 2),
    acceptedMedianMs: round(percentile(acceptedLatencies, 50)), acceptedP99Ms: round(percentile(acceptedLatencies, 99)),
  };
}

process.once('message', (load) => {
  flood(load as FloodRequest).then((report) => {
    process.send!(report, () => process.exit(0));
  }, (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
