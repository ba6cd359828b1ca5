import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { createTestUser, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let ada: TestUser;
let bob: TestUser;

before(async () => {
  deps = await createTestDeps();
  app = createApp(deps);
  ada = await createTestUser(deps);
  bob = await createTestUser(deps);
});
after(() => deps.close());

interface ItemJson {
  id: string;
  name: string;
  price: string;
  tags: string[];
  status: string;
  version: number;
  description: string | null;
  createdAt: string;
}

function send(
  method: string,
  path: string,
  who: TestUser,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return app.request(path, {
    method,
    headers: {
      ...who.headers,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function create(who: TestUser, body: Record<string, unknown>): Promise<ItemJson> {
  const res = await send('POST', '/v1/items', who, body);
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as ItemJson;
}

describe('items: create, read, update, delete', () => {
  test('create answers 201 with Location and ETag; price stays an exact decimal', async () => {
    const res = await send('POST', '/v1/items', ada, {
      name: 'Can',
      price: '0.10',
      tags: ['Garden'],
      description: 'x',
    });
    assert.equal(res.status, 201);
    const item = (await res.json()) as ItemJson;
    assert.equal(res.headers.get('location'), `/v1/items/${item.id}`);
    assert.equal(res.headers.get('etag'), '"1"');
    assert.equal(item.price, '0.10');
    assert.deepEqual(item.tags, ['garden']);
    assert.equal(item.status, 'active');
    assert.equal(
      (item as unknown as Record<string, unknown>).ownerId,
      undefined,
      'the owner column never leaves',
    );
  });

  test('tags with backslashes, quotes, commas and braces are read back as they were sent', async () => {
    // PostgreSQL quotes and escapes these inside an array; read back with drizzle's own
    // reader, every backslash was dropped.
    const tags = ['a\\b', 'c\\\\d', '\\', 'q"t', 'x,y', '{br}', 'null', 'a b'];
    const created = await create(ada, { name: 'Awkward tags', price: '1.00', tags });
    assert.deepEqual(created.tags, tags);
    const read = (await (await send('GET', `/v1/items/${created.id}`, ada)).json()) as ItemJson;
    assert.deepEqual(read.tags, tags);
    const page = (await (await send('GET', '/v1/items?limit=100', ada)).json()) as {
      data: ItemJson[];
    };
    assert.deepEqual(page.data.find((item) => item.id === created.id)?.tags, tags);
    const patched = await send('PATCH', `/v1/items/${created.id}`, ada, { tags: ['e\\f'] });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.deepEqual(((await patched.json()) as ItemJson).tags, ['e\\f']);
  });

  test('a float price, an unknown field and a bad status are 422 together', async () => {
    const res = await send('POST', '/v1/items', ada, {
      name: 'Bad',
      price: 1.5,
      colour: 'red',
      status: 'gone',
    });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { errors: { path: string }[] };
    assert.deepEqual(body.errors.map((error) => error.path).sort(), ['', 'price', 'status']);
  });

  test('a duplicate name is 409 for the same owner, fine for another', async () => {
    await create(ada, { name: 'Unique', price: '1' });
    assert.equal(
      (await send('POST', '/v1/items', ada, { name: 'Unique', price: '2' })).status,
      409,
    );
    assert.equal(
      (await send('POST', '/v1/items', bob, { name: 'Unique', price: '2' })).status,
      201,
    );
  });

  test('GET has an ETag; If-None-Match with it gives 304', async () => {
    const item = await create(ada, { name: 'Cached', price: '3' });
    const first = await send('GET', `/v1/items/${item.id}`, ada);
    assert.equal(first.status, 200);
    const etag = first.headers.get('etag') ?? '';
    assert.equal(etag, '"1"');
    const again = await send('GET', `/v1/items/${item.id}`, ada, undefined, {
      'if-none-match': etag,
    });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
  });

  test('PATCH updates partially and bumps the version; a stale If-Match is 412', async () => {
    const item = await create(ada, { name: 'Versioned', price: '5.00', tags: ['a'] });
    const res = await send(
      'PATCH',
      `/v1/items/${item.id}`,
      ada,
      { price: '6.25' },
      { 'if-match': '"1"' },
    );
    assert.equal(res.status, 200);
    const updated = (await res.json()) as ItemJson;
    assert.equal(updated.price, '6.25');
    assert.deepEqual(updated.tags, ['a']);
    assert.equal(updated.version, 2);
    assert.equal(res.headers.get('etag'), '"2"');

    const stale = await send(
      'PATCH',
      `/v1/items/${item.id}`,
      ada,
      { price: '7' },
      { 'if-match': '"1"' },
    );
    assert.equal(stale.status, 412);
    const lastWriteWins = await send('PATCH', `/v1/items/${item.id}`, ada, { price: '8' });
    assert.equal(lastWriteWins.status, 200);
    assert.equal(((await lastWriteWins.json()) as ItemJson).version, 3);
  });

  test('an empty PATCH is 422; renaming onto another item is 409', async () => {
    const one = await create(ada, { name: 'One', price: '1' });
    await create(ada, { name: 'Two', price: '1' });
    assert.equal((await send('PATCH', `/v1/items/${one.id}`, ada, {})).status, 422);
    assert.equal((await send('PATCH', `/v1/items/${one.id}`, ada, { name: 'Two' })).status, 409);
  });

  test('DELETE is 204, then 404; a stale If-Match is 412', async () => {
    const item = await create(ada, { name: 'Doomed', price: '1' });
    assert.equal(
      (await send('DELETE', `/v1/items/${item.id}`, ada, undefined, { 'if-match': '"9"' })).status,
      412,
    );
    assert.equal((await send('DELETE', `/v1/items/${item.id}`, ada)).status, 204);
    assert.equal((await send('DELETE', `/v1/items/${item.id}`, ada)).status, 404);
    assert.equal((await send('GET', `/v1/items/${item.id}`, ada)).status, 404);
  });

  test('a malformed id is 422', async () => {
    assert.equal((await send('GET', '/v1/items/not-an-id', ada)).status, 422);
  });

  test('another user’s item is 404 for every operation', async () => {
    const item = await create(ada, { name: 'Private', price: '1' });
    assert.equal((await send('GET', `/v1/items/${item.id}`, bob)).status, 404);
    assert.equal((await send('PATCH', `/v1/items/${item.id}`, bob, { price: '2' })).status, 404);
    assert.equal(
      (await send('PATCH', `/v1/items/${item.id}`, bob, { price: '2' }, { 'if-match': '"1"' }))
        .status,
      404,
    );
    assert.equal((await send('DELETE', `/v1/items/${item.id}`, bob)).status, 404);
    const list = (await (await send('GET', '/v1/items?limit=100', bob)).json()) as {
      data: ItemJson[];
    };
    assert.ok(!list.data.some((entry) => entry.id === item.id));
    assert.equal((await send('GET', `/v1/items/${item.id}`, ada)).status, 200, 'untouched');
  });
});

describe('idempotent create', () => {
  test('a retry with the same key and body replays the first response, creating nothing', async () => {
    const body = { name: 'Once', price: '9.99', tags: ['x'] };
    const first = await send('POST', '/v1/items', ada, body, { 'idempotency-key': 'key-once' });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const firstBody = await first.json();
    const retry = await send(
      'POST',
      '/v1/items',
      ada,
      { tags: ['x'], price: '9.99', name: 'Once' },
      { 'idempotency-key': 'key-once' },
    );
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(retry.headers.get('location'), first.headers.get('location'));
    assert.deepEqual(await retry.json(), firstBody);
    const list = (await (await send('GET', '/v1/items?limit=100&q=Once', ada)).json()) as {
      data: unknown[];
    };
    assert.equal(list.data.length, 1);
  });

  test('the same key with another body is 422', async () => {
    await send(
      'POST',
      '/v1/items',
      ada,
      { name: 'K1', price: '1' },
      { 'idempotency-key': 'key-mismatch' },
    );
    const res = await send(
      'POST',
      '/v1/items',
      ada,
      { name: 'K2', price: '1' },
      { 'idempotency-key': 'key-mismatch' },
    );
    assert.equal(res.status, 422);
  });

  test('keys belong to their caller', async () => {
    const mine = await send(
      'POST',
      '/v1/items',
      ada,
      { name: 'Shared key', price: '1' },
      { 'idempotency-key': 'key-shared' },
    );
    const theirs = await send(
      'POST',
      '/v1/items',
      bob,
      { name: 'Shared key', price: '1' },
      { 'idempotency-key': 'key-shared' },
    );
    assert.equal(mine.status, 201);
    assert.equal(theirs.status, 201);
    assert.equal(theirs.headers.get('idempotent-replayed'), null);
  });

  test('concurrent requests with one key create one item', async () => {
    const body = { name: 'Raced', price: '4.20' };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        send('POST', '/v1/items', ada, body, { 'idempotency-key': 'key-race' }),
      ),
    );
    const statuses = responses.map((res) => res.status);
    assert.ok(
      statuses.every((status) => status === 201 || status === 409),
      statuses.join(),
    );
    const ids = new Set(
      await Promise.all(
        responses
          .filter((res) => res.status === 201)
          .map(async (res) => ((await res.json()) as ItemJson).id),
      ),
    );
    assert.equal(ids.size, 1, 'every success names the same item');
    const list = (await (await send('GET', '/v1/items?limit=100&q=Raced', ada)).json()) as {
      data: unknown[];
    };
    assert.equal(list.data.length, 1);
  });

  test('a failed attempt records nothing: the corrected retry with the same key succeeds', async () => {
    await create(ada, { name: 'Taken name', price: '1' });
    const conflict = await send(
      'POST',
      '/v1/items',
      ada,
      { name: 'Taken name', price: '1' },
      { 'idempotency-key': 'key-fail' },
    );
    assert.equal(conflict.status, 409);
    const again = await send(
      'POST',
      '/v1/items',
      ada,
      { name: 'Taken name', price: '1' },
      { 'idempotency-key': 'key-fail' },
    );
    assert.equal(again.status, 409, 'same body, same outcome');
  });
});

describe('conditional requests (RFC 9110 §13.1)', () => {
  const patch = (id: string, ifMatch: string) =>
    send('PATCH', `/v1/items/${id}`, ada, { price: '2.00' }, { 'if-match': ifMatch });
  const remove = (id: string, ifMatch: string) =>
    send('DELETE', `/v1/items/${id}`, ada, undefined, { 'if-match': ifMatch });
  const get = (id: string, ifNoneMatch: string) =>
    send('GET', `/v1/items/${id}`, ada, undefined, { 'if-none-match': ifNoneMatch });

  async function headerProblem(res: Response) {
    assert.equal(res.status, 422);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const problem = (await res.json()) as {
      errors: { location: string; path: string; message: string }[];
    };
    assert.deepEqual(
      problem.errors.map((error) => [error.location, error.path]),
      [['header', 'if-match']],
    );
    return problem.errors[0]?.message ?? '';
  }

  test('If-Match uses the strong comparison: a weak tag never matches (412)', async () => {
    const item = await create(ada, { name: 'Strong', price: '1.00' });
    assert.equal((await patch(item.id, 'W/"1"')).status, 412);
    assert.equal((await remove(item.id, 'W/"1"')).status, 412);
    assert.equal((await patch(item.id, '"1"')).status, 200, 'the strong tag matches');
  });

  test('an unquoted or malformed If-Match is the client’s error: 422 showing the form "3"', async () => {
    const item = await create(ada, { name: 'Malformed tags', price: '1.00' });
    const message = await headerProblem(await patch(item.id, '1'));
    assert.match(message, /"1"/, 'shows the tag as it should be sent');
    for (const malformed of ['1', '"1', 'W/1', '"1" "2"', '"1", *', '', 'abc']) {
      await headerProblem(await patch(item.id, malformed));
      await headerProblem(await remove(item.id, malformed));
    }
    // Nothing was changed or deleted meanwhile.
    const current = await send('GET', `/v1/items/${item.id}`, ada);
    assert.equal(current.headers.get('etag'), '"1"');
  });

  test('an If-Match list matches when any of its strong tags does', async () => {
    const item = await create(ada, { name: 'Listed', price: '1.00' });
    assert.equal((await patch(item.id, '"7", "8"')).status, 412);
    assert.equal((await patch(item.id, 'W/"1", "9"')).status, 412, 'a weak one never counts');
    const matched = await patch(item.id, '"9" , "1",');
    assert.equal(matched.status, 200, 'any listed tag; empty list elements are allowed');
    assert.equal(matched.headers.get('etag'), '"2"');
    assert.equal((await remove(item.id, '"1", "2"')).status, 204);
  });

  test('If-Match: * matches any current item, and a missing one stays 404', async () => {
    const item = await create(ada, { name: 'Starred', price: '1.00' });
    assert.equal((await patch(item.id, '*')).status, 200);
    assert.equal((await remove(item.id, '*')).status, 204);
    assert.equal((await patch(item.id, '*')).status, 404);
    assert.equal((await patch(item.id, '"1", "2"')).status, 404, 'not 412: it does not exist');
  });

  test('If-None-Match uses the weak comparison, takes lists and *', async () => {
    const item = await create(ada, { name: 'Weakly cached', price: '1.00' });
    for (const tags of ['"1"', 'W/"1"', '"5", W/"1"', '*']) {
      assert.equal((await get(item.id, tags)).status, 304, tags);
    }
    for (const tags of ['"2"', 'W/"2", "3"']) {
      assert.equal((await get(item.id, tags)).status, 200, tags);
    }
  });

  test('the 422 for a malformed If-Match is documented on the operations that take it', async () => {
    const document = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    const operations = document.paths['/v1/items/{id}'];
    for (const method of ['patch', 'delete']) {
      assert.match(operations?.[method]?.responses['422']?.description ?? '', /If-Match/, method);
    }
  });
});
