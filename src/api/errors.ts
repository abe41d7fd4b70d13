import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { StrataError, translateDatabaseError, type ErrorCode } from '../errors.js';

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

/** Maps anything thrown while serving a request to the catalogue; nothing a client sends becomes a 500. */
export function toStrataError(error: unknown): StrataError {
  if (hasZodFastifySchemaValidationErrors(error)) {
    return new StrataError('VALIDATION_FAILED', undefined, error.validation.map((issue) => ({
      path: [issue.instancePath.replace(/^\//, '').replaceAll('/', '.'), issue.params?.issue?.path?.join('.')]
        .filter(Boolean)[0] || '(root)',
      message: issue.message ?? 'invalid',
    })));
  }
  const translated = translateDatabaseError(error);
  if (translated instanceof StrataError) return translated;
  const fastifyError = error as FastifyError;
  if (fastifyError?.code && fastifyCodes[fastifyError.code]) {
    return new StrataError(fastifyCodes[fastifyError.code]!, fastifyError.message);
  }
  if (fastifyError?.code === 'FST_ERR_VALIDATION' || (fastifyError?.statusCode === 400 && fastifyError.validation)) {
    return new StrataError('VALIDATION_FAILED', fastifyError.message);
  }
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new StrataError(fastifyError.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', fastifyError.message);
  }
  return new StrataError('INTERNAL', undefined, [], { cause: error });
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const strataError = toStrataError(error);
    if (strataError.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
    void reply.status(strataError.status).send(strataError.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new StrataError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });
}
