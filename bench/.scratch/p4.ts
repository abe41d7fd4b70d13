import { z } from 'zod';
import { activityRows, timed, median } from '../support.ts';
const rows = activityRows(10_000, [1,2,3]);
const real = (iso: string) => Number(iso.slice(0, 4)) >= 1;
const variants: Record<string, z.ZodType> = {
  iso: z.iso.datetime({ offset: true }),
  isoRefine: z.iso.datetime({ offset: true }).refine(real),
  union: z.union([z.iso.datetime({ offset: true }), z.date()]),
  unionTransform: z.union([z.iso.datetime({ offset: true }), z.date()]).transform((v) => (typeof v === 'string' ? v : v.toISOString())),
  unionInnerTransform: z.union([z.iso.datetime({ offset: true }).refine(real), z.date().transform((v) => v.toISOString())]),
  unionTR: z.union([z.iso.datetime({ offset: true }), z.date()]).transform((v) => (typeof v === 'string' ? v : v.toISOString())).refine(real),
};
for (const [k, s] of Object.entries(variants)) {
  const schema = z.array(z.object({ created_at: s.optional() }).passthrough());
  const t: number[] = [];
  for (let i = 0; i < 15; i++) t.push((await timed(async () => schema.parse(rows))).ms);
  console.log(k.padEnd(20), median(t).toFixed(1));
}
