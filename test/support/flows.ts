/**
 * The service's main flows, end to end over HTTP, for tests that run them on another
 * infrastructure (through PgBouncer, on a Redis Cluster, across replicas): sign-up and
 * login with a refresh, items with idempotent creation and ETags, a race on one
 * Idempotency-Key, and an export job followed over server-sent events and resumed with
 * `Last-Event-ID`. Each asserts as it goes.
 *
 * @example
 * const call: Call = (path, init) => app.request(path, init);
 * const who = await authFlow(call);
 * await itemsFlow(call, who);
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { nextWithin, readSse, type SseMessage } from './jobs.ts';

/** Sends one request: `app.request`, or `fetch` against a base URL. */
export type Call = (path: string, init?: RequestInit) => Promise<Response>;

export interface SignedIn {
  email: string;
  password: string;
  headers: { authorization: string };
  refreshToken: string;
}

async function json<T>(response: Response, status: number, what: string): Promise<T> {
  const text = await response.text();
  assert.equal(response.status, status, `${what}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

/** Registers, logs in with the password grant, refreshes once, and reads /v1/users/me. */
export async function authFlow(call: Call): Promise<SignedIn> {
  const email = `flow-${randomBytes(6).toString('hex')}@example.com`;
  const password = 'correct horse battery staple';
  await json(
    await call('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, name: 'Flow' }),
    }),
    201,
    'register',
  );
  const login = await json<{ access_token: string; refresh_token: string }>(
    await call('/v1/auth/token', form({ grant_type: 'password', username: email, password })),
    200,
    'password login',
  );
  const refreshed = await json<{ access_token: string; refresh_token: string }>(
    await call(
      '/v1/auth/token',
      form({ grant_type: 'refresh_token', refresh_token: login.refresh_token }),
    ),
    200,
    'refresh',
  );
  const headers = { authorization: `Bearer ${refreshed.access_token}` };
  const me = await json<{ email: string }>(await call('/v1/users/me', { headers }), 200, 'me');
  assert.equal(me.email, email);
  return { email, password, headers, refreshToken: refreshed.refresh_token };
}

interface Item {
  id: string;
  name: string;
  price: string;
}

/**
 * Creates an item with an Idempotency-Key, replays it, is refused the same key with another
 * body, reads it (ETag), updates it with If-Match, and finds it in the list.
 */
export async function itemsFlow(call: Call, who: SignedIn): Promise<void> {
  const key = randomUUID();
  const create = (name: string) =>
    call('/v1/items', {
      method: 'POST',
      headers: { ...who.headers, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ name, price: '12.50' }),
    });
  const first = await create('Watering can');
  const created = await json<Item>(first.clone(), 201, 'create');
  const replay = await create('Watering can');
  assert.equal((await json<Item>(replay.clone(), 201, 'replay')).id, created.id);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal((await create('Something else')).status, 422, 'the key with another body');

  const read = await call(`/v1/items/${created.id}`, { headers: who.headers });
  assert.equal((await json<Item>(read.clone(), 200, 'read')).name, 'Watering can');
  const etag = read.headers.get('etag');
  assert.ok(etag, 'an ETag');
  const updated = await call(`/v1/items/${created.id}`, {
    method: 'PATCH',
    headers: { ...who.headers, 'content-type': 'application/json', 'if-match': etag },
    body: JSON.stringify({ price: '9.99' }),
  });
  assert.equal((await json<Item>(updated, 200, 'update')).price, '9.99');
  const stale = await call(`/v1/items/${created.id}`, {
    method: 'PATCH',
    headers: { ...who.headers, 'content-type': 'application/json', 'if-match': etag },
    body: JSON.stringify({ price: '1.00' }),
  });
  assert.equal(stale.status, 412, 'a stale If-Match');
  const page = await json<{ data: Item[] }>(
    await call('/v1/items?limit=50', { headers: who.headers }),
    200,
    'list',
  );
  assert.ok(page.data.some((item) => item.id === created.id));
}

/**
 * `count` creations at once with one Idempotency-Key: exactly one item is created; the
 * others replay it or are told it is in progress (409), never create a second.
 */
export async function idempotencyRaceFlow(call: Call, who: SignedIn, count = 8): Promise<void> {
  const key = randomUUID();
  const answers = await Promise.all(
    Array.from({ length: count }, () =>
      call('/v1/items', {
        method: 'POST',
        headers: { ...who.headers, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ name: `Raced ${key}`, price: '1.00' }),
      }),
    ),
  );
  const ids = new Set<string>();
  for (const answer of answers) {
    const text = await answer.text();
    assert.ok([201, 409].includes(answer.status), `${answer.status} ${text}`);
    if (answer.status === 201) ids.add((JSON.parse(text) as Item).id);
  }
  assert.equal(ids.size, 1, 'one item for one key');
  const page = await json<{ data: Item[] }>(
    await call(`/v1/items?limit=100`, { headers: who.headers }),
    200,
    'list',
  );
  assert.equal(page.data.filter((item) => item.name === `Raced ${key}`).length, 1);
}

type SseEvent = Extract<SseMessage, { kind: 'event' }>;

async function eventsOf(response: Response, stopAfter?: number): Promise<SseEvent[]> {
  assert.equal(
    response.status,
    200,
    await response
      .clone()
      .text()
      .catch(() => ''),
  );
  assert.ok(response.body);
  const messages = readSse(response.body);
  const events: SseEvent[] = [];
  for (;;) {
    const { done, value } = await nextWithin(messages, 'the next job event', 30_000);
    if (done) break;
    if (value.kind !== 'event') continue;
    events.push(value);
    if (stopAfter !== undefined && events.length >= stopAfter) {
      await messages.return(undefined);
      break;
    }
  }
  return events;
}

/**
 * Starts an export of the caller's items (a worker must be running), reads the first two
 * events of its stream through `call`, then resumes it with `Last-Event-ID` through
 * `resume` (another replica, say) to the final event, and downloads the file. Returns the
 * events seen, in order.
 */
export async function exportJobFlow(
  call: Call,
  who: SignedIn,
  resume: Call = call,
): Promise<string[]> {
  const accepted = await json<{ jobId: string; download: string }>(
    await call('/v1/exports', {
      method: 'POST',
      headers: { ...who.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'csv' }),
    }),
    202,
    'export',
  );
  const head = await eventsOf(
    await call(`/v1/jobs/${accepted.jobId}/events`, { headers: who.headers }),
    1,
  );
  const last = head.at(-1);
  assert.equal(head[0]?.event, 'queued');
  assert.ok(last?.id, 'events carry ids');
  const rest = await eventsOf(
    await resume(`/v1/jobs/${accepted.jobId}/events`, {
      headers: { ...who.headers, 'last-event-id': last.id },
    }),
  );
  const names = [...head, ...rest].map((event) => event.event);
  assert.ok(!rest.some((event) => event.id === last.id), 'resumed after the last event seen');
  assert.equal(names.at(-1), 'completed', names.join(','));
  const file = await call(accepted.download, { headers: who.headers });
  assert.equal(file.status, 200);
  assert.match(await file.text(), /^id,/);
  return names;
}
