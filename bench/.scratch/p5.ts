import { timestamp } from '../../src/models/activity.ts';
for (const v of ['2026-02-30T10:00:00Z', '0000-01-01T00:00:00Z', '2024-02-29T10:00:00.123456+02:00', new Date('0000-06-01T00:00:00Z'), new Date(NaN), new Date(), '2024-01-01 10:00'])
  console.log(String(v), JSON.stringify(timestamp.safeParse(v).error?.issues.map((i) => i.message) ?? timestamp.parse(v)));
