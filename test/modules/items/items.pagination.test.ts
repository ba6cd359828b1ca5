/**
 * Keyset pagination of `GET /v1/items` under concurrent writes: for every sort, order and a
 * range of filters, a walk over a few hundred rows with a small page size, while rows are
 * inserted and deleted between pages. Plus the edges of `limit` and `cursor`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, inArray, sql } from 'drizzle-orm';
import { createApp } from '../../../src/app.ts';
import { cursorCodec } from '../../../src/core/pagination.ts';
import { unlimitedRateLimiter } from '../../../src/core/rate-limit/rate-limiter.ts';
import type { Item } from '../../../src/modules/items/items.service.ts';
import { items } from '../../../src/modules/items/items.table.ts';
import { createTestUser, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { seededRandom } from '../../support/seeded-random.ts';

let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let ada: TestUser;
let bob: TestUser;

before(async () => {
  deps = await createTestDeps();
  // Hundreds of pages walked by one user: far past any rate limit, which is tested elsewhere.
  app = createApp({ ...deps, rateLimiter: unlimitedRateLimiter() });
  ada = await createTestUser(deps);
  bob = await createTestUser(deps);
});
after(() => deps.close());

type Sort = 'createdAt' | 'name' | 'price';
type Order = 'asc' | 'desc';
type Status = 'draft' | 'active' | 'archived';

interface Filters {
  q?: string;
  tag?: string;
  status?: Status;
  minPrice?: string;
  maxPrice?: string;
}

interface ItemJson {
  id: string;
  name: string;
  description: string | null;
  price: string;
  tags: string[];
  status: Status;
  version: number;
  createdAt: string;
  updatedAt: string;
}

interface PageJson {
  data: ItemJson[];
  nextCursor: string | null;
}

interface ProblemJson {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { location: string; path: string; message: string; code: string }[];
}

// ---------------------------------------------------------------------------------------
// Data

/** Seeded, so a failing walk can be replayed. */
function prng(seed: number) {
  const next = seededRandom(seed);
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick<T>(values: readonly T[]): T {
      const value = values[Math.floor(next() * values.length)];
      if (value === undefined) throw new Error('pick from an empty list');
      return value;
    },
  };
}
type Random = ReturnType<typeof prng>;

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'omega'];
/** `_` and `%` are LIKE wildcards and `\` its escape: `q` must treat all three literally. */
const SEPARATORS = [' ', '_', '%', '-', '\\', 'x'];
/** Duplicates on purpose ('5' and '5.00' are one price), and values on every filter bound. */
const PRICES = [
  '0.00',
  '0.99',
  '1',
  '5',
  '5.00',
  '9.99',
  '10',
  '10.00',
  '12.50',
  '19.99',
  '20',
  '29.99',
  '30',
  '30.01',
  '40',
  '40.00',
  '45.5',
  '99.99',
  '1000',
];
const TAGS = ['red', 'green', 'blue'];
const BASE_TIME = Date.parse('2026-03-01T00:00:00.000Z');
/** Few distinct instants, so many rows share one; some a millisecond apart. */
const INSTANTS = [0, 1, 2, 999, 1_000, 1_001, 59_999, 60_000, 3_600_000, 3_600_001].map(
  (offset) => new Date(BASE_TIME + offset),
);

const caseVariants = (word: string) => [
  word.charAt(0).toUpperCase() + word.slice(1),
  word,
  word.toUpperCase(),
];

function randomStatus(random: Random): Status {
  const roll = random.next();
  return roll < 0.6 ? 'active' : roll < 0.8 ? 'draft' : 'archived';
}

function randomTags(random: Random): string[] {
  return TAGS.filter(() => random.next() < 0.55);
}

/**
 * `count` rows for `ownerId`. Names come in threes differing only by case ("Alpha_4",
 * "alpha_4", "ALPHA_4"); a fifth of the rows take the database's `now()`, the rest one of
 * a few fixed instants, so `created_at` ties are everywhere.
 */
function seedRows(ownerId: string, count: number, random: Random): (typeof items.$inferInsert)[] {
  return Array.from({ length: count }, (_, index) => {
    const group = Math.floor(index / 3);
    const word = caseVariants(WORDS[group % WORDS.length] ?? 'alpha')[index % 3] ?? 'alpha';
    const separator = SEPARATORS[group % SEPARATORS.length] ?? ' ';
    return {
      ownerId,
      name: `${word}${separator}${group}`,
      price: random.pick(PRICES),
      tags: randomTags(random),
      status: randomStatus(random),
      description: random.next() < 0.5 ? null : `row ${index}`,
      ...(random.next() < 0.2 ? {} : { createdAt: random.pick(INSTANTS) }),
    };
  });
}

function cents(price: string): bigint {
  const [whole = '0', fraction = ''] = price.split('.');
  return BigInt(whole) * 100n + BigInt(`${fraction}00`.slice(0, 2));
}

/** What the API should say about a row, from the row itself. */
function publicJson(row: Item): ItemJson {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: row.price,
    tags: row.tags,
    status: row.status,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** The filters, applied independently of the database: ILIKE on ASCII is a lowercase match. */
function matches(
  item: { name: string; price: string; tags: string[]; status: string },
  f: Filters,
) {
  if (f.q !== undefined && !item.name.toLowerCase().includes(f.q.toLowerCase())) return false;
  if (f.tag !== undefined && !item.tags.includes(f.tag)) return false;
  if (f.status !== undefined && item.status !== f.status) return false;
  if (f.minPrice !== undefined && cents(item.price) < cents(f.minPrice)) return false;
  if (f.maxPrice !== undefined && cents(item.price) > cents(f.maxPrice)) return false;
  return true;
}

/** A new row that passes `filters` (its name contains `q`, in a random case). */
function matchingRow(
  ownerId: string,
  filters: Filters,
  random: Random,
  serial: number,
): typeof items.$inferInsert {
  const q = filters.q ?? random.pick(WORDS);
  const prices = PRICES.filter((price) =>
    matches(
      { name: '', price, tags: [], status: '' },
      {
        ...(filters.minPrice === undefined ? {} : { minPrice: filters.minPrice }),
        ...(filters.maxPrice === undefined ? {} : { maxPrice: filters.maxPrice }),
      },
    ),
  );
  const tags = new Set(randomTags(random));
  if (filters.tag) tags.add(filters.tag);
  return {
    ownerId,
    name: `${random.next() < 0.5 ? q.toUpperCase() : q.toLowerCase()}${random.pick(SEPARATORS)}new${serial}`,
    price: random.pick(prices),
    tags: [...tags],
    status: filters.status ?? randomStatus(random),
    ...(random.next() < 0.5 ? {} : { createdAt: random.pick(INSTANTS) }),
  };
}

/** A new row that fails `filters` (only meaningful when there is a filter). */
function failingRow(ownerId: string, filters: Filters, serial: number): typeof items.$inferInsert {
  return {
    ownerId,
    name: filters.q === undefined ? `zzz${serial}` : `nope${serial}`,
    price: filters.minPrice === undefined ? '123456.00' : '0.00',
    tags: filters.tag === undefined ? [] : ['never'],
    status: filters.status === 'draft' ? 'active' : 'draft',
  };
}

// ---------------------------------------------------------------------------------------
// HTTP

function listPath(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  return `/v1/items?${params}`;
}

async function list(
  query: Record<string, string | number | undefined>,
  who: TestUser = ada,
): Promise<Response> {
  return app.request(listPath(query), { headers: who.headers });
}

async function page(query: Record<string, string | number | undefined>): Promise<PageJson> {
  const res = await list(query);
  assert.equal(res.status, 200, `${listPath(query)}: ${await res.clone().text()}`);
  return (await res.json()) as PageJson;
}

async function problem(res: Response, status: number): Promise<ProblemJson> {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = (await res.json()) as ProblemJson;
  assert.equal(body.status, status);
  return body;
}

async function invalidCursorProblem(res: Response): Promise<ProblemJson> {
  const body = await problem(res, 422);
  assert.deepEqual(
    body.errors?.map((error) => [error.location, error.path, error.code]),
    [['query', 'cursor', 'invalid_cursor']],
  );
  return body;
}

/** Positions of `names` in the database's own text order (its collation, not JavaScript's). */
async function collationRanks(names: string[]): Promise<Map<string, number>> {
  const values = sql.join(
    names.map((name) => sql`(${name}::text)`),
    sql`, `,
  );
  const rows = (await deps.db.execute(
    sql`select name from (values ${values}) as names(name) order by name`,
  )) as unknown as { name: string }[];
  return new Map(rows.map((row, index) => [row.name, index]));
}

async function reseed(random: Random): Promise<{ adaRows: Item[]; bobRows: Item[] }> {
  await deps.db.delete(items).where(inArray(items.ownerId, [ada.user.id, bob.user.id]));
  const rows = await deps.db
    .insert(items)
    .values([...seedRows(ada.user.id, 300, random), ...seedRows(bob.user.id, 50, random)])
    .returning();
  return {
    adaRows: rows.filter((row) => row.ownerId === ada.user.id),
    bobRows: rows.filter((row) => row.ownerId === bob.user.id),
  };
}

// ---------------------------------------------------------------------------------------
// The walks

const FILTER_SETS: { label: string; filters: Filters; limit: number }[] = [
  { label: 'no filter', filters: {}, limit: 7 },
  { label: 'q with a literal underscore', filters: { q: '_' }, limit: 7 },
  { label: 'q in another case with a literal percent', filters: { q: 'ALPHA%' }, limit: 2 },
  { label: 'q with a literal backslash', filters: { q: '\\' }, limit: 7 },
  { label: 'tag', filters: { tag: 'red' }, limit: 7 },
  { label: 'status', filters: { status: 'archived' }, limit: 7 },
  { label: 'price range', filters: { minPrice: '10.00', maxPrice: '30' }, limit: 7 },
  {
    label: 'every filter at once',
    filters: { q: 'alpha', tag: 'red', status: 'active', minPrice: '5', maxPrice: '40' },
    limit: 3,
  },
];
const SORTS: Sort[] = ['createdAt', 'name', 'price'];
const ORDERS: Order[] = ['asc', 'desc'];

function compareBySort(a: ItemJson, b: ItemJson, sort: Sort, ranks: Map<string, number>): number {
  let difference: number;
  if (sort === 'createdAt') difference = Date.parse(a.createdAt) - Date.parse(b.createdAt);
  else if (sort === 'price') {
    const [x, y] = [cents(a.price), cents(b.price)];
    difference = x < y ? -1 : x > y ? 1 : 0;
  } else {
    const [x, y] = [ranks.get(a.name), ranks.get(b.name)];
    assert.ok(x !== undefined && y !== undefined, `unranked name ${a.name} or ${b.name}`);
    difference = x - y;
  }
  if (difference !== 0) return Math.sign(difference);
  // uuid order in PostgreSQL is byte order, which is the order of their lowercase hex text.
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

async function walk(sort: Sort, order: Order, filters: Filters, limit: number, seed: number) {
  const random = prng(seed);
  const { adaRows, bobRows } = await reseed(random);
  const where = `sort=${sort} order=${order} filters=${JSON.stringify(filters)} seed=${seed}`;

  /** Every row Ada ever had in this walk, as the API should show it. */
  const adaItems = new Map(adaRows.map((row) => [row.id, publicJson(row)]));
  const bobIds = new Set(bobRows.map((row) => row.id));
  /** Rows present from the first request to the last: each must be returned exactly once. */
  const stable = new Set(adaRows.map((row) => row.id));
  const alive = new Set(stable);
  const deletedBeforePage = new Map<string, number>();
  const returned: ItemJson[] = [];
  const seen = new Set<string>();
  /** Rows inserted mid-walk, with the row the cursor pointed at then. */
  const insertedAt: { id: string; cursorRow: ItemJson }[] = [];
  let serial = 0;

  const expectedAtStart = adaRows.filter((row) => matches(row, filters)).length;
  assert.ok(expectedAtStart > limit * 2, `${where}: too few matching rows (${expectedAtStart})`);

  let cursor: string | undefined;
  for (let pageIndex = 0; ; pageIndex++) {
    assert.ok(pageIndex < 400, `${where}: the walk does not end`);
    const { data, nextCursor } = await page({ sort, order, limit, cursor, ...filters });
    assert.ok(data.length <= limit, `${where}: page ${pageIndex} is larger than the limit`);
    for (const item of data) {
      const at = `${where} page ${pageIndex} item ${item.id} (${item.name})`;
      assert.ok(!bobIds.has(item.id), `${at}: another user's item`);
      assert.ok(!seen.has(item.id), `${at}: returned twice`);
      const expected = adaItems.get(item.id);
      assert.ok(expected, `${at}: not one of the user's items`);
      const deletedAt = deletedBeforePage.get(item.id);
      assert.ok(deletedAt === undefined || deletedAt > pageIndex, `${at}: already deleted`);
      assert.deepEqual(item, expected, `${at}: not as stored`);
      assert.ok(matches(item, filters), `${at}: does not match the filters`);
      seen.add(item.id);
      returned.push(item);
    }
    if (nextCursor === null) break;
    assert.equal(data.length, limit, `${where}: page ${pageIndex} is short but not the last`);
    cursor = nextCursor;

    // Between pages: two matching rows for Ada in one statement (a created_at tie when both
    // take now()), one that does not match, one for Bob; delete a row already seen
    // (every other time, the very row the cursor points at) and a matching row not yet seen.
    const inserted = await deps.db
      .insert(items)
      .values([
        matchingRow(ada.user.id, filters, random, serial++),
        matchingRow(ada.user.id, filters, random, serial++),
        ...(Object.keys(filters).length > 0 ? [failingRow(ada.user.id, filters, serial++)] : []),
        matchingRow(bob.user.id, filters, random, serial++),
      ])
      .returning();
    const cursorRow = data.at(-1);
    assert.ok(cursorRow);
    for (const row of inserted) {
      if (row.ownerId === bob.user.id) bobIds.add(row.id);
      else {
        adaItems.set(row.id, publicJson(row));
        alive.add(row.id);
        insertedAt.push({ id: row.id, cursorRow });
      }
    }
    const seenAlive = data.filter((item) => alive.has(item.id)).map((item) => item.id);
    const lastOfPage = data.at(-1)?.id;
    const seenVictim =
      pageIndex % 2 === 0 && lastOfPage && alive.has(lastOfPage)
        ? lastOfPage
        : seenAlive.length > 0
          ? random.pick(seenAlive)
          : undefined;
    const unseenMatching = [...alive].filter((id) => {
      const item = adaItems.get(id);
      return !seen.has(id) && item !== undefined && matches(item, filters);
    });
    const unseenVictim = unseenMatching.length > 0 ? random.pick(unseenMatching) : undefined;
    const victims = [seenVictim, unseenVictim].filter((id): id is string => id !== undefined);
    if (victims.length > 0) {
      await deps.db.delete(items).where(inArray(items.id, victims));
      for (const id of victims) {
        alive.delete(id);
        stable.delete(id);
        deletedBeforePage.set(id, pageIndex + 1);
      }
    }
  }

  // Nothing skipped: every row there for the whole walk that matches was returned.
  const missing = [...stable].filter((id) => {
    const item = adaItems.get(id);
    return item !== undefined && matches(item, filters) && !seen.has(id);
  });
  assert.deepEqual(
    missing.map((id) => adaItems.get(id)?.name),
    [],
    `${where}: rows skipped`,
  );

  const ranks =
    sort === 'name'
      ? await collationRanks([...adaItems.values()].map((item) => item.name))
      : new Map<string, number>();
  const direction = order === 'asc' ? -1 : 1;

  // A matching row inserted ahead of the cursor (and not deleted) is returned; one inserted
  // behind it never is.
  let aheadCount = 0;
  for (const { id, cursorRow } of insertedAt) {
    const item = adaItems.get(id);
    if (!item || !alive.has(id) || !matches(item, filters)) continue;
    const ahead = compareBySort(cursorRow, item, sort, ranks) === direction;
    if (ahead) aheadCount++;
    assert.equal(
      seen.has(id),
      ahead,
      `${where}: ${item.name} inserted ${ahead ? 'ahead of' : 'behind'} ${cursorRow.name}`,
    );
  }

  // One order across every page, ties broken by id in the same direction.
  for (let index = 1; index < returned.length; index++) {
    const [previous, current] = [returned[index - 1], returned[index]];
    assert.ok(previous && current);
    const comparison = compareBySort(previous, current, sort, ranks);
    assert.equal(
      comparison,
      direction,
      `${where}: ${previous.name}/${previous[sort]}/${previous.id} then ${current.name}/${current[sort]}/${current.id}`,
    );
  }
  return { aheadCount };
}

describe('keyset pages stay exact while rows come and go', () => {
  let seed = 1;
  let insertedAhead = 0;
  for (const { label, filters, limit } of FILTER_SETS) {
    for (const sort of SORTS) {
      for (const order of ORDERS) {
        const walkSeed = seed++;
        test(`${label}, sort=${sort} ${order}, limit ${limit}`, async () => {
          insertedAhead += (await walk(sort, order, filters, limit, walkSeed)).aheadCount;
        });
      }
    }
  }

  test('the walks did see rows inserted ahead of their cursor', () => {
    assert.ok(insertedAhead > 50, String(insertedAhead));
  });

  test('the q filter is literal and case-insensitive (checked against known names)', async () => {
    const random = prng(99);
    await reseed(random);
    await deps.db.insert(items).values([
      { ownerId: ada.user.id, name: '100% cotton', price: '1' },
      { ownerId: ada.user.id, name: '100x cotton', price: '1' },
      { ownerId: ada.user.id, name: 'snake_case', price: '1' },
      { ownerId: ada.user.id, name: 'snakeXcase', price: '1' },
      { ownerId: ada.user.id, name: 'Back\\slash', price: '1' },
      { ownerId: ada.user.id, name: 'BACKslash', price: '1' },
    ]);
    const names = async (q: string) =>
      (await page({ q, limit: 100, sort: 'name', order: 'asc' })).data
        .map((item) => item.name)
        .filter((name) => /cotton|snake|slash/i.test(name))
        .sort();
    assert.deepEqual(await names('0% c'), ['100% cotton']);
    assert.deepEqual(await names('E_C'), ['snake_case']);
    assert.deepEqual(await names('k\\s'), ['Back\\slash']);
    assert.deepEqual(await names('backslash'), ['BACKslash']);
  });
});

// ---------------------------------------------------------------------------------------
// Limits and cursors

describe('page size', () => {
  before(async () => {
    await reseed(prng(7));
  });

  test('limit defaults to 20 and may go up to 100', async () => {
    const first = await page({});
    assert.equal(first.data.length, 20);
    assert.notEqual(first.nextCursor, null);
    assert.equal((await page({ limit: 100 })).data.length, 100);
    assert.equal((await page({ limit: 1 })).data.length, 1);
  });

  test('an undisturbed walk has exactly ceil(rows / limit) pages, the last one full', async () => {
    for (const limit of [100, 20, 7]) {
      let cursor: string | undefined;
      const sizes: number[] = [];
      do {
        const next = await page({ limit, cursor, sort: 'price', order: 'asc' });
        sizes.push(next.data.length);
        cursor = next.nextCursor ?? undefined;
      } while (cursor);
      const pages = Math.ceil(300 / limit);
      assert.equal(sizes.length, pages, `limit ${limit}: ${sizes.join()}`);
      assert.equal(sizes.at(-1), 300 - limit * (pages - 1));
    }
  });

  test('no items: an empty page and no cursor', async () => {
    const lonely = await createTestUser(deps);
    const res = await list({}, lonely);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { data: [], nextCursor: null });
  });

  for (const limit of ['0', '101', '-1', '1.5', 'ten', '']) {
    test(`limit=${JSON.stringify(limit)} is 422 naming the limit`, async () => {
      const body = await problem(await list({ limit }), 422);
      assert.deepEqual(
        body.errors?.map((error) => [error.location, error.path]),
        [['query', 'limit']],
      );
    });
  }

  test('an unknown sort, order or status is 422, never 500', async () => {
    for (const query of [
      { sort: 'owner' },
      { order: 'up' },
      { status: 'gone' },
      { minPrice: '1e3' },
    ]) {
      await problem(await list(query), 422);
    }
  });
});

describe('cursors', () => {
  let cursor: string;

  before(async () => {
    await reseed(prng(8));
    const first = await page({ limit: 5, sort: 'name', order: 'asc', tag: 'red' });
    assert.ok(first.nextCursor);
    cursor = first.nextCursor;
  });

  const query = (value: string, extra: Record<string, string> = {}) => ({
    limit: 5,
    sort: 'name',
    order: 'asc',
    tag: 'red',
    cursor: value,
    ...extra,
  });

  function flip(text: string, index: number): string {
    const char = text.charAt(index);
    return `${text.slice(0, index)}${char === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`;
  }

  test('the cursor works with the same query, and with another page size', async () => {
    assert.equal((await list(query(cursor))).status, 200);
    assert.equal((await list(query(cursor, { limit: '50' }))).status, 200);
  });

  test('defaults spelled out are the same query', async () => {
    const first = await page({ limit: 3 });
    assert.ok(first.nextCursor);
    const res = await list({
      limit: 3,
      sort: 'createdAt',
      order: 'desc',
      cursor: first.nextCursor,
    });
    assert.equal(res.status, 200);
  });

  test('a flipped character in the signature or in the body is 422', async () => {
    const [body = '', signature = ''] = cursor.split('.');
    for (let index = 0; index < signature.length - 1; index += 3) {
      await invalidCursorProblem(await list(query(`${body}.${flip(signature, index)}`)));
    }
    for (let index = 0; index < body.length - 1; index += 5) {
      await invalidCursorProblem(await list(query(`${flip(body, index)}.${signature}`)));
    }
  });

  test('a re-encoded body with a forged position is 422', async () => {
    const [body = '', signature = ''] = cursor.split('.');
    const position = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
      value: string;
    };
    const forged = Buffer.from(JSON.stringify({ ...position, value: 'A' })).toString('base64url');
    await invalidCursorProblem(await list(query(`${forged}.${signature}`)));
  });

  test('a cursor signed with another secret is 422', async () => {
    const [body = ''] = cursor.split('.');
    const position = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
    const foreign = cursorCodec('another-secret-another-secret-another-secret').encode(position);
    await invalidCursorProblem(await list(query(foreign)));
  });

  test('a signature in a non-canonical encoding is 422', async () => {
    const [body = '', signature = ''] = cursor.split('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(signature.at(-1) ?? 'A');
    const sameBits = alphabet.charAt(last ^ 1);
    for (const variant of [
      `${body}.${signature.slice(0, -1)}${sameBits}`,
      `${body}.${signature}!`,
      `${body}.!${signature}`,
      `${body}.${signature}=`,
    ]) {
      await invalidCursorProblem(await list(query(variant)));
    }
  });

  test('a cursor of another sort, order or filter is 422', async () => {
    const others: Record<string, string>[] = [
      { sort: 'price' },
      { sort: 'createdAt' },
      { order: 'desc' },
      { tag: 'blue' },
      { q: 'a' },
      { status: 'active' },
      { minPrice: '0' },
      { maxPrice: '1000' },
    ];
    for (const other of others) {
      const body = await invalidCursorProblem(await list(query(cursor, other)));
      assert.match(body.detail ?? '', /another sort or filter/);
    }
    // Dropping a filter changes the query too.
    await invalidCursorProblem(await list({ limit: 5, sort: 'name', order: 'asc', cursor }));
  });

  test('another user cannot use the cursor to see anything of Ada’s', async () => {
    const res = await list(query(cursor), bob);
    // The cursor only names a position, so Bob gets his own items after it (or a 422).
    assert.ok(res.status === 200 || res.status === 422, String(res.status));
    if (res.status === 200) {
      const body = (await res.json()) as PageJson;
      const adaIds = new Set(
        (
          await deps.db.select({ id: items.id }).from(items).where(eq(items.ownerId, ada.user.id))
        ).map((row) => row.id),
      );
      assert.ok(body.data.every((item) => !adaIds.has(item.id)));
    }
  });

  const garbage = [
    'garbage',
    '.',
    '..',
    'a.b',
    'a.b.c',
    `${'x'.repeat(10)}.${'y'.repeat(22)}`,
    '!!!.@@@',
    '%00',
    '💥.💥',
    Buffer.from('{"query":"x"}').toString('base64url'),
    `${Buffer.from('not json').toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`,
    'x'.repeat(512),
    'x'.repeat(513),
  ];
  for (const value of garbage) {
    test(`garbage cursor ${JSON.stringify(value.slice(0, 40))} is 422`, async () => {
      const body = await problem(await list(query(value)), 422);
      assert.deepEqual(
        body.errors?.map((error) => [error.location, error.path]),
        [['query', 'cursor']],
      );
    });
  }

  test('a well-signed cursor of the wrong shape is 422', async () => {
    const codec = cursorCodec(deps.settings.JWT_SECRET);
    for (const position of [
      null,
      'text',
      [],
      { query: 'x' },
      { query: 'x', value: 'a', id: 'no' },
    ]) {
      await invalidCursorProblem(await list(query(codec.encode(position))));
    }
  });

  test('a cursor after the longest allowed name still fits the cursor parameter', async () => {
    await deps.db.insert(items).values([
      { ownerId: ada.user.id, name: 'é'.repeat(200), price: '1', tags: ['red'] },
      { ownerId: ada.user.id, name: 'ê'.repeat(200), price: '1', tags: ['red'] },
    ]);
    const first = await page({ limit: 1, sort: 'name', order: 'desc', tag: 'red' });
    assert.ok(first.nextCursor);
    const second = await list({
      limit: 1,
      sort: 'name',
      order: 'desc',
      tag: 'red',
      cursor: first.nextCursor,
    });
    assert.equal(second.status, 200, `cursor of ${first.nextCursor.length} characters`);
  });
});
