import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { queryValues } from '../../src/core/validation.ts';
import { seededRandom } from '../support/seeded-random.ts';

/** What Hono reads of the query, shaped as zod-openapi validates it. */
function honoReading(queries: Record<string, string[]>): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(queries).map(([key, values]) => [
      key,
      values.length === 1 ? (values[0] ?? '') : values,
    ]),
  );
}

const app = new Hono().get('/q', (c) =>
  c.json({ ours: queryValues(c), hono: honoReading(c.req.queries()) }),
);

async function readings(query: string) {
  const res = await app.request(`http://localhost/q${query}`);
  assert.equal(res.status, 200, query);
  return (await res.json()) as { ours: unknown; hono: unknown };
}

test('a query with nothing to decode is read as Hono reads it, names and order alike', async () => {
  const queries = [
    '',
    '?',
    '?limit=20',
    '?a=1&a=2&b&=x&&c=d=e',
    '?2=two&b=1&1=one',
    '?__proto__=x&constructor=y',
    '?a=&a&a=3',
    // Thousands of parts: one name repeated, then thousands of names, no `=` until the end.
    `?${'a&'.repeat(3_000)}b=1`,
    `?${Array.from({ length: 3_000 }, (_, index) => `n${index}`).join('&')}=x`,
  ];
  // And generated ones, from the characters that shape a query.
  const random = seededRandom(13);
  const parts = ['a', 'b', '1', '=', '&', 'x', '__proto__', ';', '?', '-'];
  for (let index = 0; index < 300; index++) {
    let query = '?';
    const length = Math.floor(random() * 12);
    for (let at = 0; at < length; at++) query += parts[Math.floor(random() * parts.length)];
    queries.push(query);
  }
  for (const query of queries) {
    const { ours, hono } = await readings(query);
    assert.deepEqual(ours, hono, query);
    assert.equal(JSON.stringify(ours), JSON.stringify(hono), `key order: ${query}`);
  }
});

test('a query with an escape, a plus or a fragment is Hono’s reading', async () => {
  for (const query of ['?q=a%20b', '?q=a+b', '?q=%ED%A0%80', '?q=%', '?a%3Db=c', '?q=x#frag']) {
    const { ours, hono } = await readings(query);
    assert.deepEqual(ours, hono, query);
  }
});
