import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStrataClient, StrataApiError, unwrap } from '../../src/client/index.js';

// What a proxy or load balancer in front of Strata may answer: not Strata's error body.
const answers: Record<string, { status: number; type: string; body: string }> = {
  '/v1/users/1': { status: 502, type: 'text/html', body: '<html><body>Bad Gateway</body></html>' },
  '/v1/users/2': { status: 503, type: 'application/json', body: '{"message":"upstream unavailable"}' },
  '/v1/users/3': { status: 500, type: 'application/json', body: '{"error":"boom"}' },
};

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const answer = answers[request.url ?? ''] ?? { status: 404, type: 'text/plain', body: 'no' };
    response.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('unwrap, given an error answer that is not Strata\'s', () => {
  it.each([['1', 502], ['2', 503], ['3', 500]])('throws a StrataApiError with the status and no code for /v1/users/%s', async (id, status) => {
    const client = createStrataClient({ baseUrl, apiKey: 'strata_admin_x' });
    const thrown = await unwrap(client.GET('/v1/users/{id}', { params: { path: { id } } })).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(StrataApiError);
    expect(thrown).toMatchObject({ status, code: undefined, message: `HTTP ${status}`, details: [] });
  });
});
