import { appendFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { atFileEnd } from '../../helpers/cleanup.js';
import { buildApp } from '../../../src/api/app.js';

interface Document {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
}

/** Responses checked against the served document in this test process (per file; see the README). */
let validated = 0;
let reportScheduled = false;

/** A document path (`/v1/users/{id}`) as a pattern for a request path. */
function pattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+').replace(/\{[^}]+\}/g, '[^/]+')}$`);
}

export function checker(document: Document) {
  // The document is OpenAPI 3.0: ajv reads its `nullable`; unknown OpenAPI keywords are left alone.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ ...document, $id: 'openapi.json' });
  const routes = Object.entries(document.paths).map(([path, methods]) => ({ path, matcher: pattern(path), methods }));
  const validators = new Map<string, ValidateFunction>();
  return (method: string, url: string, response: LightMyRequestResponse): string | undefined => {
    const path = url.split('?')[0]!;
    // Routes outside the contract (the docs UI, the dashboard's files, a path no route serves) are not checked.
    const route = routes.find((candidate) => candidate.matcher.test(path));
    const operation = route?.methods[method.toLowerCase()];
    if (!route || !operation) return undefined;
    const where = `${method} ${url} answered ${response.statusCode}`;
    const documented = operation.responses[String(response.statusCode)];
    if (!documented) return `${where}, a status ${route.path} does not document: ${response.body.slice(0, 300)}`;
    validated++;
    const type = String(response.headers['content-type'] ?? '').split(';')[0]!;
    if (method === 'HEAD' || response.body === '' || !type.endsWith('json')) return undefined;
    const schema = documented.content?.['application/json']?.schema;
    if (!schema) return `${where} with a JSON body the document does not describe`;
    const key = `${method} ${route.path} ${response.statusCode}`;
    let validate = validators.get(key);
    if (!validate) {
      const pointer = ['paths', route.path, method.toLowerCase(), 'responses', String(response.statusCode), 'content', 'application/json', 'schema']
        .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
      validate = ajv.getSchema(`openapi.json#/${pointer}`)!;
      validators.set(key, validate);
    }
    if (validate(JSON.parse(response.body))) return undefined;
    return `${where} with a body the document does not allow: ${ajv.errorsText(validate.errors)}; body ${response.body.slice(0, 300)}`;
  };
}

/**
 * Makes every `inject` answer of this app prove the served OpenAPI document: an undocumented
 * status, or a JSON body its schema refuses, fails the test that received it.
 */
export function conformToDocument(app: FastifyInstance): void {
  const inject = app.inject.bind(app) as (options: InjectOptions | string) => Promise<LightMyRequestResponse>;
  let check: ReturnType<typeof checker> | undefined;
  (app as { inject: unknown }).inject = async (options: InjectOptions | string) => {
    const response = await inject(options);
    check ??= checker(app.swagger() as unknown as Document);
    const { method = 'GET', url = '/' } = typeof options === 'string' ? { url: options } : options;
    const problem = check(String(method).toUpperCase(), typeof url === 'string' ? url : url.pathname ?? '/', response);
    if (problem) throw new Error(`not as the OpenAPI document says: ${problem}`);
    return response;
  };
  if (!reportScheduled && process.env.STRATA_CONFORMANCE_LOG) {
    reportScheduled = true;
    atFileEnd(() => appendFileSync(process.env.STRATA_CONFORMANCE_LOG!, `${validated}\n`));
  }
}

/** `buildApp` for a test that needs its own options, with every `inject` answer checked as above. */
export async function buildCheckedApp(...args: Parameters<typeof buildApp>): Promise<FastifyInstance> {
  const app = await buildApp(...args);
  conformToDocument(app);
  return app;
}
