import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { StrataError, type ErrorCode } from '../errors.js';

/** Node's parser errors, by `code`, that a client caused; any other is malformed HTTP. */
const clientErrorCodes: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
};

/**
 * For Fastify's `clientErrorHandler` option: Node's HTTP parser refuses headers over 16 KB (431), a
 * slow request (408) and malformed HTTP (400) before Fastify sees a request, and Fastify's default
 * answer is in its own shape, not the catalogue's. The socket is closed after, as Node itself does.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const strataError = new StrataError(clientErrorCodes[error.code ?? ''] ?? 'MALFORMED_REQUEST');
  const body = JSON.stringify(strataError.toJSON());
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${strataError.status} ${STATUS_CODES[strataError.status]}\r\nContent-Type: application/json; charset=utf-8\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
