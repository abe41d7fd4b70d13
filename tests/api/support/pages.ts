import { expect } from 'vitest';
import type { TestApi } from '../helpers.js';

/** Follows nextCursor from the first page to the last; returns every row in the order served. */
export async function walkPages(api: TestApi, url: string, key: string, limit: number): Promise<{ rows: { id: number }[]; pages: number }> {
  const rows: { id: number }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const separator = url.includes('?') ? '&' : '?';
    const response = await api.call('GET', `${url}${separator}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, key);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    expect(body.data.length).toBeLessThanOrEqual(limit);
    rows.push(...body.data);
    cursor = body.nextCursor;
    pages += 1;
    expect(pages).toBeLessThan(1000);
  } while (cursor !== null);
  return { rows, pages };
}

/** Cursors a client could make up: none of them was returned by the API. */
export const forgedCursors = [
  'not-base64!',
  Buffer.from('"7"').toString('base64url'),
  Buffer.from('{"id":7}').toString('base64url'),
  Buffer.from('-1').toString('base64url'),
  Buffer.from('1.5').toString('base64url'),
  Buffer.from('1e400').toString('base64url'),
  Buffer.from('null').toString('base64url'),
  Buffer.from("'; drop table app_user; --").toString('base64url'),
  'A'.repeat(201),
];
