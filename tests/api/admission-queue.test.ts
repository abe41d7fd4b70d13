import { describe, expect, it } from 'vitest';
import { IngestAdmission } from '../../src/api/admission.js';

const limits = { maxInflightBytes: 100, queueLength: 2, queueTimeoutMs: 60_000 };
/** 'admitted', the refusal's code, or 'waiting' when the promise has not settled by the next macrotask. */
const settled = async (promise: Promise<unknown>) => Promise.race([
  promise.then(() => 'admitted', (error: { code: string }) => error.code),
  new Promise((resolve) => setImmediate(() => resolve('waiting'))),
]);

describe('IngestAdmission', () => {
  it('admits up to the byte bound, queues first come first served, and admits the head when room is given back', async () => {
    const admission = new IngestAdmission(limits);
    const first = await admission.acquire(60);
    const second = admission.acquire(60);
    const third = admission.acquire(10);
    // The small one does not overtake the head of the queue.
    expect([await settled(second), await settled(third)]).toEqual(['waiting', 'waiting']);
    first();
    first();
    expect([await settled(second), await settled(third)]).toEqual(['admitted', 'admitted']);
    expect(admission.stats).toEqual({ inflightBytes: 70, queued: 0, refused: 0 });
  });

  it('admits a body larger than the whole bound alone', async () => {
    const admission = new IngestAdmission(limits);
    const huge = await admission.acquire(10_000);
    const small = admission.acquire(1);
    expect(await settled(small)).toBe('waiting');
    huge();
    expect(await settled(small)).toBe('admitted');
  });

  it('refuses with OVERLOADED when the queue is full or the wait runs out', async () => {
    const admission = new IngestAdmission({ ...limits, queueLength: 1, queueTimeoutMs: 20 });
    await admission.acquire(100);
    const waiting = admission.acquire(1);
    await expect(admission.acquire(1)).rejects.toMatchObject({ code: 'OVERLOADED' });
    await expect(waiting).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect(admission.stats).toEqual({ inflightBytes: 100, queued: 0, refused: 2 });
  });

  it('drops a waiter whose client left, and lets the one behind it in', async () => {
    const admission = new IngestAdmission(limits);
    const release = await admission.acquire(100);
    const client = new AbortController();
    const leaving = admission.acquire(50, client.signal);
    const staying = admission.acquire(50);
    client.abort();
    await expect(leaving).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
    release();
    expect(await settled(staying)).toBe('admitted');
    expect(admission.stats.inflightBytes).toBe(50);
  });
});
