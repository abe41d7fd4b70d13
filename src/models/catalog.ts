import { z } from 'zod';
import { id, name, slug, text } from './common.js';

export type { Product, Inventory } from '../db/schema.generated.js';

const someField = (patch: Record<string, unknown>) => Object.values(patch).some((value) => value !== undefined);

/** numeric(12, 2) with the product_price_non_negative check: ten integer digits and whole cents. */
export const price = z.number().nonnegative().max(9_999_999_999.99).multipleOf(0.01);

export const tag = z.string().trim().min(1).max(50).refine((value) => !value.includes('\u0000'), 'must not contain NUL characters');
// Duplicates carry no meaning in a tag set; product_tags_bounded allows at most 50.
export const tags = z.array(tag).max(50).transform((values) => [...new Set(values)]);

export const productInput = z.strictObject({
  name,
  slug,
  description: text(10_000).optional(),
  price: price.optional(),
  tags: tags.optional(),
  is_active: z.boolean().optional(),
});
export type ProductInput = z.output<typeof productInput>;

export const productPatch = z.strictObject({
  name: name.optional(),
  slug: slug.optional(),
  description: text(10_000).optional(),
  price: price.optional(),
  tags: tags.optional(),
  is_active: z.boolean().optional(),
}).refine(someField, 'name at least one field to change');
export type ProductPatch = z.output<typeof productPatch>;

const limit = (fallback: number) => z.number().int().min(1).max(1000).default(fallback);

export const productListOptions = z.strictObject({
  afterId: id.optional(),
  limit: limit(100),
  active: z.boolean().optional(),
});
export type ProductListOptions = z.output<typeof productListOptions>;

export const productTagOptions = z.strictObject({ afterId: id.optional(), limit: limit(100) });
export type ProductTagOptions = z.output<typeof productTagOptions>;

export const productSearchOptions = z.strictObject({ limit: limit(50) });
export type ProductSearchOptions = z.output<typeof productSearchOptions>;

/**
 * Turns what a person typed into a tsquery of prefix terms ("wire keyb" → "wire:* & keyb:*"). Only
 * letters and digits survive, so no input can inject tsquery operators or make to_tsquery raise.
 */
export function prefixTsQuery(query: string): string | null {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu)?.slice(0, 16) ?? [];
  return words.length === 0 ? null : words.map((word) => `${word}:*`).join(' & ');
}

/** int4 bounds of inventory.quantity: a larger delta could never be applied. */
export const inventoryDelta = z.number().int().min(-2_147_483_647).max(2_147_483_647);
