/**
 * The typed client (`src/client.ts`) against the real app on a real socket. Its inputs and
 * outputs are checked by `tsc` too: the `@ts-expect-error` lines must stay errors, and the
 * explicitly typed variables break the build if the API's types drift.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../src/app.ts';
import { type Client, createClient } from '../src/client.ts';
import { listen, type RunningServer } from '../src/core/http-server.ts';
// An item as JSON, written out by hand (shared with the generated client's program): if the
// API's type changes, this file stops compiling.
import type { ItemJson } from './fixtures/generated-client/observed.ts';
import { createTestUser, type TestUser } from './support/auth.ts';
import { createTestDeps, type TestDeps } from './support/deps.ts';

interface ItemPageJson {
  data: ItemJson[];
  nextCursor: string | null;
}

interface ProblemJson {
  type: string;
  title: string;
  status: number;
  detail?: string | undefined;
  requestId?: string | undefined;
  errors?: { location: string; path: string; message: string; code: string }[] | undefined;
}

/** True only when A and B are the same type (not merely assignable either way). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

let deps: TestDeps;
let server: RunningServer;
let ada: TestUser;
let api: Client;
let baseUrl: string;

before(async () => {
  deps = await createTestDeps();
  const app = createApp(deps);
  server = await listen({ fetch: app.fetch, host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${server.port}`;
  ada = await createTestUser(deps);
  api = createClient(baseUrl, { headers: ada.headers });
});
after(async () => {
  await server.drain(2_000);
  await deps.close();
});

describe('typed client over HTTP', () => {
  test('create, list, get, update with If-Match, delete', async () => {
    // The client's types demand `header` on every route declaring optional headers, and
    // `description` and `tags` on create (drizzle-zod types a refined insert column as
    // required), though the server accepts requests without them.
    const created = await api.v1.items.$post({
      header: {},
      json: { name: 'Watering can', price: '24.50', tags: ['Garden', 'tools'], description: null },
    });
    assert.equal(created.status, 201, await created.clone().text());
    if (created.status !== 201) return;
    const item: ItemJson = await created.json();
    const exact: Equal<Awaited<ReturnType<typeof created.json>>, ItemJson> = true;
    assert.ok(exact);
    assert.equal(item.name, 'Watering can');
    assert.equal(item.price, '24.50');
    assert.deepEqual(item.tags, ['garden', 'tools']);
    assert.equal(item.status, 'active');
    assert.equal(item.version, 1);
    assert.equal(item.description, null);
    assert.ok(!Number.isNaN(Date.parse(item.createdAt)));
    assert.equal(created.headers.get('location'), `/v1/items/${item.id}`);
    assert.equal(created.headers.get('etag'), '"1"');

    await api.v1.items.$post({
      header: {},
      json: { name: 'Rake', price: '12', status: 'draft', tags: [], description: 'Wooden' },
    });
    const listed = await api.v1.items.$get({
      query: { sort: 'name', order: 'asc', limit: '1' },
    });
    assert.equal(listed.status, 200);
    if (listed.status !== 200) return;
    const firstPage: ItemPageJson = await listed.json();
    const exactPage: Equal<Awaited<ReturnType<typeof listed.json>>, ItemPageJson> = true;
    assert.ok(exactPage);
    assert.deepEqual(
      firstPage.data.map((entry) => entry.name),
      ['Rake'],
    );
    assert.ok(firstPage.nextCursor);
    const second = await api.v1.items.$get({
      query: { sort: 'name', order: 'asc', limit: '1', cursor: firstPage.nextCursor },
    });
    if (second.status !== 200) assert.fail(`status ${second.status}`);
    const secondPage: ItemPageJson = await second.json();
    assert.deepEqual(
      secondPage.data.map((entry) => entry.id),
      [item.id],
    );
    assert.equal(secondPage.nextCursor, null);
    const filtered = await api.v1.items.$get({ query: { tag: 'garden', minPrice: '20' } });
    if (filtered.status !== 200) assert.fail(`status ${filtered.status}`);
    const filteredPage: ItemPageJson = await filtered.json();
    assert.deepEqual(filteredPage, { data: [item], nextCursor: null });

    const fetched = await api.v1.items[':id'].$get({ param: { id: item.id }, header: {} });
    assert.equal(fetched.status, 200);
    if (fetched.status !== 200) return;
    const got: ItemJson = await fetched.json();
    assert.deepEqual(got, item);
    const etag = fetched.headers.get('etag') ?? '';
    assert.equal(etag, '"1"');
    const notModified = await api.v1.items[':id'].$get({
      param: { id: item.id },
      header: { 'if-none-match': etag },
    });
    assert.equal(notModified.status, 304);

    const updated = await api.v1.items[':id'].$patch({
      param: { id: item.id },
      header: { 'if-match': etag },
      json: { price: '19.99', status: 'archived' },
    });
    assert.equal(updated.status, 200, await updated.clone().text());
    if (updated.status !== 200) return;
    const changed: ItemJson = await updated.json();
    assert.equal(changed.price, '19.99');
    assert.equal(changed.status, 'archived');
    assert.equal(changed.version, 2);
    assert.equal(changed.name, item.name);
    assert.equal(updated.headers.get('etag'), '"2"');

    const stale = await api.v1.items[':id'].$patch({
      param: { id: item.id },
      header: { 'if-match': etag },
      json: { price: '1' },
    });
    assert.equal(stale.status, 412);
    if (stale.status !== 412) return;
    const staleProblem = (await stale.json()) as ProblemJson;
    assert.equal(staleProblem.status, 412);

    const staleDelete = await api.v1.items[':id'].$delete({
      param: { id: item.id },
      header: { 'if-match': etag },
    });
    assert.equal(staleDelete.status, 412);
    const deleted = await api.v1.items[':id'].$delete({
      param: { id: item.id },
      header: { 'if-match': '"2"' },
    });
    assert.equal(deleted.status, 204);
    assert.equal(await deleted.text(), '');

    const gone = await api.v1.items[':id'].$get({ param: { id: item.id }, header: {} });
    assert.equal(gone.status, 404);
    if (gone.status !== 404) return;
    const problem = (await gone.json()) as ProblemJson;
    assert.equal(problem.status, 404);
    assert.equal(gone.headers.get('content-type'), 'application/problem+json');
  });

  test('an idempotent create through the client replays', async () => {
    const send = () =>
      api.v1.items.$post({
        json: { name: 'Once', price: '1.00', tags: [], description: null },
        header: { 'idempotency-key': 'client-once' },
      });
    const first = await send();
    const again = await send();
    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await again.json(), await first.json());
  });

  test('the compiler rejects what the server rejects', async () => {
    const res = await api.v1.items.$post({
      header: {},
      json: {
        name: 'Bad',
        // @ts-expect-error price is a decimal string, not a number
        price: 12,
        tags: [],
        description: null,
      },
    });
    assert.equal(res.status, 422);
    if (res.status !== 422) return;
    const body = (await res.json()) as ProblemJson;
    assert.deepEqual(
      body.errors?.map((error) => error.path),
      ['price'],
    );

    // Never called: these only have to fail to compile, each for the reason given.
    const typeOnly = () => [
      api.v1.items.$post({
        header: {},
        json: {
          name: 'x',
          price: '1',
          tags: [],
          description: null,
          // @ts-expect-error an unknown field is refused
          colour: 'red',
        },
      }),
      api.v1.items.$post({
        header: {},
        // @ts-expect-error `name` is required
        json: { price: '1', tags: [], description: null },
      }),
      api.v1.items.$get({
        // @ts-expect-error only createdAt, name and price sort
        query: { sort: 'colour' },
      }),
      api.v1.items[':id'].$patch({
        param: { id: 'x' },
        header: {},
        // @ts-expect-error a status is one of draft, active, archived
        json: { status: 'gone' },
      }),
      // @ts-expect-error the id is a path parameter, and required
      api.v1.items[':id'].$get({ header: {} }),
      // @ts-expect-error there is no such route
      api.v1.things.$get(),
    ];
    assert.equal(typeof typeOnly, 'function');
  });

  test('without credentials the client gets a 401 problem', async () => {
    const anonymous = createClient(baseUrl);
    const res = await anonymous.v1.items.$get({ query: {} });
    assert.equal(res.status, 401);
    if (res.status !== 401) return;
    const body = (await res.json()) as ProblemJson;
    assert.equal(body.status, 401);
    assert.ok(res.headers.get('www-authenticate'));
  });
});
