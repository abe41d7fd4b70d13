import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { StrataError, translateDatabaseError, type ErrorCode, type ErrorDetail } from '../errors.js';
import { DATABASE_RETRY_AFTER_SECONDS, OutageLog } from './outage-log.js';

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

interface ZodIssueParams {
  keys?: string[];
  issue?: { path?: PropertyKey[] };
}

/** One detail per bad field; an unknown key is named by its own path, not by its parent's. */
function validationDetails(issues: { instancePath: string; message?: string; params?: ZodIssueParams }[]): ErrorDetail[] {
  return issues.flatMap((issue) => {
    const parent = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const message = issue.message ?? 'invalid';
    if (Array.isArray(issue.params?.keys)) {
      return issue.params.keys.map((key) => ({ path: parent ? `${parent}.${key}` : key, message: 'unknown field' }));
    }
    return [{ path: [parent, issue.params?.issue?.path?.join('.')].filter(Boolean)[0] || '(root)', message }];
  });
}

/** Maps anything thrown while serving a request to the catalogue; nothing a client sends becomes a 500. */
export function toStrataError(error: unknown): StrataError {
  if (hasZodFastifySchemaValidationErrors(error)) {
    // The library types these issues through `fastify/types/schema`, which NodeNext cannot resolve (any).
    return new StrataError('VALIDATION_FAILED', undefined, validationDetails(error.validation as Parameters<typeof validationDetails>[0]));
  }
  const translated = translateDatabaseError(error);
  if (translated instanceof StrataError) return translated;
  const fastifyError = error as FastifyError;
  if (fastifyError?.code && fastifyCodes[fastifyError.code]) {
    return new StrataError(fastifyCodes[fastifyError.code]!, fastifyError.message);
  }
  // A validator that runs out of stack was handed JSON nested deeper than any field can hold.
  if (error instanceof RangeError && fastifyError.code === 'FST_ERR_VALIDATION' && /call stack/i.test(error.message)) {
    return new StrataError('VALIDATION_FAILED', 'the input is nested too deeply', [{ path: '(root)', message: 'nested too deeply' }]);
  }
  if (fastifyError?.code === 'FST_ERR_VALIDATION' || (fastifyError?.statusCode === 400 && fastifyError.validation)) {
    return new StrataError('VALIDATION_FAILED', fastifyError.message);
  }
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new StrataError(fastifyError.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', fastifyError.message);
  }
  return new StrataError('INTERNAL', undefined, [], { cause: error });
}

/**
 * For Fastify's `frameworkErrors` option: the router answers a malformed URL (FST_ERR_BAD_URL) or a
 * path parameter over `maxParamLength` (FST_ERR_MAX_PARAM_LENGTH, a bare 414) before any route or
 * error handler runs, so without this those answers are not in the catalogue's shape.
 */
export function frameworkErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const strataError = new StrataError('VALIDATION_FAILED', 'the URL is not valid', [{ path: '(url)', message: error.message }]);
  void reply.status(strataError.status).send(strataError.toJSON());
}

export function registerErrorHandling(app: FastifyInstance, outages = new OutageLog()): void {
  app.setErrorHandler((error, request, reply) => {
    const strataError = toStrataError(error);
    if (strataError.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
    if (strataError.code === 'DATABASE_UNAVAILABLE') {
      outages.report(request.log, strataError.cause);
      void reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    }
    void reply.status(strataError.status).send(strataError.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new StrataError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });
}
