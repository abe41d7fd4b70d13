import { z } from 'zod';
import { activityRows, timed, median } from '../support.ts';
import { activityInput, activityType, jsonbObject, timestamp } from '../../src/models/activity.ts';
import { id } from '../../src/models/common.ts';
const rows = activityRows(10_000, [1,2,3]);
const schemas: Record<string, z.ZodType> = {
  full: z.array(activityInput),
  idOnly: z.array(z.object({ user_id: id }).passthrough()),
  typeOnly: z.array(z.object({ activity_type: activityType }).passthrough()),
  metaOnly: z.array(z.object({ metadata: jsonbObject.optional() }).passthrough()),
  tsOnly: z.array(z.object({ created_at: timestamp.optional() }).passthrough()),
  isoOnly: z.array(z.object({ created_at: z.iso.datetime({ offset: true }) }).passthrough()),
};
for (const [k, s] of Object.entries(schemas)) {
  const t: number[] = [];
  for (let i = 0; i < 15; i++) t.push((await timed(async () => s.parse(rows))).ms);
  console.log(k, median(t).toFixed(1));
}
const t2: number[] = [];
for (let i = 0; i < 15; i++) t2.push((await timed(async () => JSON.parse(JSON.stringify({activities: rows})))).ms);
console.log('json roundtrip', median(t2).toFixed(1), JSON.stringify(rows).length);
