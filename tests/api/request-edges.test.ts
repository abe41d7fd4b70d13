import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorCatalogue } from '../../src/errors.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { seeder } from './support/seed.js';

let api: CheckedApi;
let tenant: { id: number; key: string };
let origin: string;

beforeAll(async () => {
  api = await checkedApi();
  tenant = await api.tenant('Request edges');
  // Node's own HTTP parser refuses these before any route runs, so they need a real socket, not inject.
  origin = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

/** Sends raw bytes and returns the raw answer, read until the server closes the connection. */
function rawExchange(request: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { answer += chunk; });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
  });
}

describe('requests Node refuses before any route', () => {
  it('answers headers over 16 KB with 431 HEADERS_TOO_LARGE in the catalogue\'s shape', async () => {
    const response = await fetch(`${origin}/health`, { headers: { 'x-padding': 'x'.repeat(20_000) } });
    expect(response.status).toBe(431);
    expect(await response.json()).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: errorCatalogue.HEADERS_TOO_LARGE.message, details: [] } });
  });

  it('answers malformed HTTP with 400 MALFORMED_REQUEST', async () => {
    const { status, body } = await rawExchange('NOT HTTP AT ALL\r\n\r\n');
    expect({ status, code: JSON.parse(body).error.code }).toEqual({ status: 400, code: 'MALFORMED_REQUEST' });
  });

  it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE, by its Content-Length or by what arrives', async () => {
    const headers = { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json' };
    const declared = await fetch(`${origin}/v1/users`, { method: 'POST', headers, body: `{"a":"${'x'.repeat(1_100_000)}"}` });
    expect({ status: declared.status, code: (await declared.json()).error.code }).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const chunks = new ReadableStream({ start(controller) { controller.enqueue(new TextEncoder().encode(`{"a":"${'x'.repeat(1_100_000)}"}`)); controller.close(); } });
    const streamed = await fetch(`${origin}/v1/users`, { method: 'POST', headers, body: chunks, duplex: 'half' } as RequestInit);
    expect({ status: streamed.status, code: (await streamed.json()).error.code }).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
  });
});

describe('an empty body sent with a JSON content type', () => {
  const json = { 'content-type': 'application/json' };

  it('is no body on a route that takes none: DELETE /users/:id and /api-keys/:id answer 204', async () => {
    const user = await seeder(api).user(tenant.key);
    expect((await api.call('DELETE', `/v1/users/${user.id}`, tenant.key, '', json)).statusCode).toBe(204);
    expect((await api.call('GET', `/v1/users/${user.id}`, tenant.key)).statusCode).toBe(404);
    const issued = (await api.call('POST', '/v1/api-keys', tenant.key, { name: 'to revoke' })).json().data;
    expect((await api.call('DELETE', `/v1/api-keys/${issued.id}`, tenant.key, '', json)).statusCode).toBe(204);
  });

  it('is still malformed JSON where a body is required', async () => {
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('POST', '/v1/users', tenant.key, '', json), 400, 'MALFORMED_JSON');
      expectError(await api.call('POST', '/v1/products', tenant.key, '', json), 400, 'MALFORMED_JSON');
    });
  });
});

describe('numbers beyond the safe integer range in settings, activity metadata and event properties', () => {
  let userId: number;
  const json = { 'content-type': 'application/json' };
  const unsafe = ['9007199254740993', '9007199254740992', '-9007199254740993', '1e300', '9007199254740991.9'];

  beforeAll(async () => {
    userId = (await seeder(api).user(tenant.key, { settings: { keep: 1 } })).id;
  });

  it('are refused with 400 VALIDATION_FAILED, never stored rounded', async () => {
    await expectUnchanged(api.database, async () => {
      for (const literal of unsafe) {
        expectError(await api.call('PATCH', `/v1/users/${userId}/settings`, tenant.key, `{"n":${literal}}`, json), 400, 'VALIDATION_FAILED');
        expectError(await api.call('POST', '/v1/users', tenant.key, `{"email":"big@example.com","username":"big","settings":{"n":[${literal}]}}`, json), 400, 'VALIDATION_FAILED', ['settings']);
        const activity = `{"activities":[{"userId":${userId},"type":"big","metadata":{"n":{"m":${literal}}}}]}`;
        expectError(await api.call('POST', '/v1/activities', tenant.key, activity, json), 400, 'VALIDATION_FAILED');
        const event = `{"events":[{"id":"${randomUUID()}","distinctId":"d","name":"big","properties":{"n":${literal}}}]}`;
        expectError(await api.call('POST', '/v1/events', tenant.key, event, json), 400, 'VALIDATION_FAILED');
      }
    });
  });

  it('keep every safe integer and fraction exactly as sent', async () => {
    const sent = '{"max":9007199254740991,"min":-9007199254740991,"half":1.5,"small":1e-7,"big":12345.678}';
    const response = await api.call('PATCH', `/v1/users/${userId}/settings`, tenant.key, sent, json);
    expect(response.statusCode).toBe(200);
    expect((await api.call('GET', `/v1/users/${userId}/settings`, tenant.key)).json().data)
      .toEqual({ keep: 1, max: 9007199254740991, min: -9007199254740991, half: 1.5, small: 1e-7, big: 12345.678 });
  });
});
