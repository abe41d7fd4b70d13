import { z } from 'zod';
import { refuseUnstorableText } from './common.js';

/** snake_case (the database's and the models' names) to camelCase (the API's). */
export function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

export interface ApiSpelling<S extends z.ZodRawShape> {
  /** A field's API name where it is not the camelCase of the model's, declared beside the model. */
  names?: Partial<Record<keyof S & string, string>>;
  /** Fields that are model objects themselves, spelled the same way. */
  nested?: (keyof S & string)[];
  /** Refuse any string (keys included) PostgreSQL would not store as sent, named by its API path. */
  storableText?: boolean;
}

type Model = z.ZodObject<z.ZodRawShape>;

function unwrapObject(field: z.ZodType): Model | undefined {
  let current: z.ZodType = field;
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap() as z.ZodType;
  return current instanceof z.ZodObject ? current : undefined;
}

/**
 * The API's spelling of a model schema, generated from it rather than written again: the same field
 * schemas and object-level checks under the API's names, with an output in the model's names and
 * types. A route validating with it holds exactly the value the model's own schema would give, once.
 */
export function apiSchema<S extends z.ZodRawShape>(model: z.ZodObject<S>, spelling: ApiSpelling<S> = {}) {
  const renames: [api: string, field: string][] = [];
  const shape: Record<string, z.ZodType> = {};
  for (const [field, schema] of Object.entries(model.shape) as [keyof S & string, z.ZodType][]) {
    const name = spelling.names?.[field] ?? camel(field);
    const inner = spelling.nested?.includes(field) ? unwrapObject(schema) : undefined;
    shape[name] = inner ? apiSchema(inner).optional() : schema;
    renames.push([name, field]);
  }
  // Object-level refinements ("name at least one field") look at values only, so they hold as they are.
  const checks = (model._zod.def.checks ?? []) as z.core.$ZodCheck<Record<string, unknown>>[];
  let object = checks.length > 0 ? z.strictObject(shape).check(...checks) : z.strictObject(shape);
  if (spelling.storableText) object = object.superRefine(refuseUnstorableText);
  return object.transform((value) => {
    const out: Record<string, unknown> = {};
    for (const [name, field] of renames) if (name in value) out[field] = value[name];
    return out as z.output<z.ZodObject<S>>;
  });
}

/** The API names of a row's columns where they are not plain camelCase (for presenting rows). */
export type ApiNames = Readonly<Record<string, string>>;
