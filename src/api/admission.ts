import type { FastifyReply, FastifyRequest } from 'fastify';
import { StrataError } from '../errors.js';

export interface AdmissionLimits {
  /** Request body bytes admitted at once. */
  maxInflightBytes: number;
  /** Requests that may wait for room; past it, OVERLOADED at once. */
  queueLength: number;
  /** The longest a request waits in the queue before OVERLOADED. */
  queueTimeoutMs: number;
}

/** Seconds a refused client is told to wait: about the time the admitted batches take to drain. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

interface Waiter {
  bytes: number;
  admit(): void;
  refuse(error: StrataError): void;
}

/**
 * Bounds the ingest bodies one instance holds: a request is admitted while the bytes in flight
 * stay under the limit, waits (first come, first admitted) in a queue of bounded length, or is
 * refused. Admission happens before the body is read, so a waiting or refused request costs a
 * socket, not its batch: memory stays proportional to `maxInflightBytes`. A semaphore of this size
 * is simpler to own than to adapt a library's (their permits are counts, and none has a queue bound).
 */
export class IngestAdmission {
  private inflightBytes = 0;
  private readonly queue: Waiter[] = [];
  private refusedCount = 0;

  constructor(readonly limits: AdmissionLimits) {}

  get stats() {
    return { inflightBytes: this.inflightBytes, queued: this.queue.length, refused: this.refusedCount };
  }

  /**
   * Resolves with the release function once `bytes` are admitted; rejects with OVERLOADED when the
   * queue is full or the wait times out, and with CLIENT_CLOSED_REQUEST when `signal` aborts first.
   * A body larger than the whole limit is charged the limit: it is admitted alone.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    const charge = Math.min(Math.max(bytes, 0), this.limits.maxInflightBytes);
    if (this.queue.length === 0 && this.fits(charge)) return Promise.resolve(this.take(charge));
    if (this.queue.length >= this.limits.queueLength) return Promise.reject(this.refuse('the ingest queue is full'));
    return new Promise((resolve, reject) => {
      const leave = (error: StrataError) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
        reject(error);
        // The head may have been what held smaller requests behind it.
        this.drain();
      };
      const onAbort = () => leave(new StrataError('CLIENT_CLOSED_REQUEST'));
      const waiter: Waiter = {
        bytes: charge,
        admit: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(this.take(charge));
        },
        refuse: leave,
      };
      const timer = setTimeout(() => leave(this.refuse(`no room for the batch within ${this.limits.queueTimeoutMs} ms`)), this.limits.queueTimeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private fits(charge: number): boolean {
    return this.inflightBytes === 0 || this.inflightBytes + charge <= this.limits.maxInflightBytes;
  }

  private take(charge: number): () => void {
    this.inflightBytes += charge;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflightBytes -= charge;
      this.drain();
    };
  }

  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) this.queue.shift()!.admit();
  }

  private refuse(message: string): StrataError {
    this.refusedCount += 1;
    return new StrataError('OVERLOADED', message);
  }
}

/**
 * Aborts when the client goes away before its answer is written: its socket closed while the
 * request was waiting, being read or being served.
 */
export function clientDeparture(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  if (response.destroyed && !response.writableFinished) controller.abort();
  else response.once('close', () => { if (!response.writableFinished) controller.abort(); });
  return controller.signal;
}

const departures = new WeakMap<FastifyRequest, AbortSignal>();

/** The request's departure signal, made once by the admission hook. */
export function departureOf(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  let signal = departures.get(request);
  if (!signal) {
    signal = clientDeparture(reply);
    departures.set(request, signal);
  }
  return signal;
}

/**
 * A preParsing hook for the ingest routes (after authentication and the rate limit, before the body
 * is read): waits for room for the declared body, or answers OVERLOADED with Retry-After. The room
 * is given back when the answer is written or the client goes away. A body without Content-Length
 * (chunked) is charged the whole limit.
 */
export function admitIngest(admission: IngestAdmission) {
  return async <Payload>(request: FastifyRequest, reply: FastifyReply, payload: Payload): Promise<Payload> => {
    const declared = Number(request.headers['content-length']);
    const bytes = Number.isFinite(declared) ? declared : admission.limits.maxInflightBytes;
    let release: (() => void) | undefined;
    let closed = false;
    reply.raw.once('close', () => {
      closed = true;
      release?.();
    });
    try {
      release = await admission.acquire(bytes, departureOf(request, reply));
      if (closed) release();
      return payload;
    } catch (error) {
      if (error instanceof StrataError && error.code === 'OVERLOADED') void reply.header('retry-after', String(OVERLOADED_RETRY_AFTER_SECONDS));
      throw error;
    }
  };
}
