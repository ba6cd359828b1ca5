/**
 * Rate limits as a client sees them: the IETF `RateLimit-Policy` and `RateLimit` headers on
 * every accepted answer, 429 problem documents with `Retry-After` past the limit, callers
 * counted apart (by address, or by user on protected routes), `TRUST_PROXY_HOPS`, the
 * in-memory limiter, and what `RATE_LIMIT_ON_REDIS_ERROR` does when Redis is gone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../../src/app.ts';
import type { Deps } from '../../../src/core/deps.ts';
import { defineRoute, jsonResponse } from '../../../src/core/route.ts';
import { createRouter } from '../../../src/core/router.ts';
import { createTestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { closedPort } from '../../support/processes.ts';

const LIMIT = 3;
const WINDOW_SECONDS = 60;

const publicProbe = defineRoute({
  method: 'get',
  path: '/probe/limited',
  operationId: 'probeLimited',
  summary: 'Limited per address',
  tags: ['probe'],
  rateLimit: { name: 'probe', limit: LIMIT, windowSeconds: WINDOW_SECONDS },
  responses: { 200: jsonResponse(z.object({ ok: z.boolean() }), 'Counted') },
});

const userProbe = defineRoute({
  method: 'get',
  path: '/probe/limited-user',
  operationId: 'probeLimitedUser',
  summary: 'Limited per user',
  tags: ['probe'],
  auth: { scopes: [] },
  rateLimit: { name: 'probe-user', limit: LIMIT, windowSeconds: WINDOW_SECONDS },
  responses: { 200: jsonResponse(z.object({ ok: z.boolean() }), 'Counted') },
});

/** The app with both probe routes mounted after `createApp`, as test/app.test.ts does. */
function appWithProbes(deps: Deps) {
  const app = createApp(deps);
  app.route(
    '/',
    createRouter()
      .openapi(publicProbe, (c) => c.json({ ok: true }, 200))
      .openapi(userProbe, (c) => c.json({ ok: true }, 200)),
  );
  return app;
}

type App = ReturnType<typeof appWithProbes>;

/** A fresh address per call (unless told), so tests never share a window. */
function newAddress(): string {
  const bytes = randomBytes(3);
  return `10.${bytes[0]}.${bytes[1]}.${bytes[2]}`;
}

const from = (address: string) => ({ incoming: { socket: { remoteAddress: address } } });

/** `"name";r=2;t=60` into its parts; fails on anything else. */
function parseRateLimit(value: string | null): { name: string; r: number; t: number } {
  const match = /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(value ?? '');
  assert.ok(match, `a RateLimit header of the form "name";r=N;t=N, got ${value}`);
  return { name: match[1] ?? '', r: Number(match[2]), t: Number(match[3]) };
}

/** Asserts a successful answer with the headers of the probe policy; returns `r` and `t`. */
async function assertCounted(res: Response, remaining: number, policy = 'probe') {
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(
    res.headers.get('ratelimit-policy'),
    `"${policy}";q=${LIMIT};w=${WINDOW_SECONDS}`,
    'RateLimit-Policy',
  );
  const header = parseRateLimit(res.headers.get('ratelimit'));
  assert.equal(header.name, policy);
  assert.equal(header.r, remaining, `remaining after a hit: ${res.headers.get('ratelimit')}`);
  assert.ok(header.t >= 1 && header.t <= WINDOW_SECONDS, `t within the window: ${header.t}`);
  return header;
}

/** Asserts the 429 problem document past the limit, with Retry-After and the same headers. */
async function assertRefused(res: Response, policy = 'probe') {
  const text = await res.text();
  assert.equal(res.status, 429, text);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.status, 429);
  assert.equal(body.title, 'Too Many Requests');
  assert.match(String(body.detail), new RegExp(`"${policy}"`));
  const retryAfter = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After > 0, got ${retryAfter}`);
  assert.ok(retryAfter <= WINDOW_SECONDS, `Retry-After within the window: ${retryAfter}`);
  assert.equal(
    res.headers.get('ratelimit-policy'),
    `"${policy}";q=${LIMIT};w=${WINDOW_SECONDS}`,
    'RateLimit-Policy on the refusal',
  );
  const header = parseRateLimit(res.headers.get('ratelimit'));
  assert.equal(header.r, 0, 'nothing remains');
  assert.equal(header.t, retryAfter, 'RateLimit t agrees with Retry-After');
}

/** Uses up the probe policy of `address` on `app` and checks each answer on the way. */
async function exhaust(app: App, address: string) {
  const seen: number[] = [];
  for (let hit = 1; hit <= LIMIT; hit++) {
    const header = await assertCounted(
      await app.request('/probe/limited', {}, from(address)),
      LIMIT - hit,
    );
    seen.push(header.t);
  }
  // The window only ever runs down.
  for (let index = 1; index < seen.length; index++) {
    assert.ok((seen[index] ?? 0) <= (seen[index - 1] ?? 0), `t runs down: ${seen.join(', ')}`);
  }
  await assertRefused(await app.request('/probe/limited', {}, from(address)));
}

/** `rate_limiter_errors_total` as /metrics shows it. */
async function limiterErrors(app: App): Promise<number> {
  const res = await app.request('/metrics');
  assert.equal(res.status, 200);
  const match = /^rate_limiter_errors_total (\S+)$/m.exec(await res.text());
  assert.ok(match, 'rate_limiter_errors_total is exposed');
  return Number(match[1]);
}

describe('the Redis rate limiter', () => {
  let deps: TestDeps;
  let app: App;
  before(async () => {
    deps = await createTestDeps();
    app = appWithProbes(deps);
  });
  after(() => deps.close());

  test('accepted answers carry RateLimit-Policy and RateLimit, counting down', async () => {
    const address = newAddress();
    const first = await assertCounted(
      await app.request('/probe/limited', {}, from(address)),
      LIMIT - 1,
    );
    assert.equal(first.t, WINDOW_SECONDS, 'a new window has all of its seconds left');
    await assertCounted(await app.request('/probe/limited', {}, from(address)), LIMIT - 2);
  });

  test('the request past the limit is 429 with Retry-After and the same headers', async () => {
    const address = newAddress();
    await exhaust(app, address);
    // And it stays refused: a refusal does not reset anything.
    await assertRefused(await app.request('/probe/limited', {}, from(address)));
  });

  test('addresses are counted apart', async () => {
    const spent = newAddress();
    await exhaust(app, spent);
    const other = newAddress();
    await assertCounted(await app.request('/probe/limited', {}, from(other)), LIMIT - 1);
    await assertRefused(await app.request('/probe/limited', {}, from(spent)));
  });

  test('a protected route counts per user, whatever address or credential they use', async () => {
    const alice = await createTestUser(deps);
    const bob = await createTestUser(deps);
    for (let hit = 1; hit <= LIMIT; hit++) {
      // A new address each time: on a protected route it is the user that is counted.
      const res = await app.request(
        '/probe/limited-user',
        { headers: alice.headers },
        from(newAddress()),
      );
      await assertCounted(res, LIMIT - hit, 'probe-user');
    }
    await assertRefused(
      await app.request('/probe/limited-user', { headers: alice.headers }, from(newAddress())),
      'probe-user',
    );
    // A second token of the same user shares the count.
    const second = await deps.tokens.issue(alice.user.id, [], deps.clock.now());
    await assertRefused(
      await app.request(
        '/probe/limited-user',
        { headers: { authorization: `Bearer ${second.token}` } },
        from(newAddress()),
      ),
      'probe-user',
    );
    const address = newAddress();
    await assertCounted(
      await app.request('/probe/limited-user', { headers: bob.headers }, from(address)),
      LIMIT - 1,
      'probe-user',
    );
  });

  test('an unauthenticated call to a protected limited route is 401 and is not counted', async () => {
    const carol = await createTestUser(deps);
    const res = await app.request('/probe/limited-user', {}, from(newAddress()));
    assert.equal(res.status, 401);
    await assertCounted(
      await app.request('/probe/limited-user', { headers: carol.headers }, from(newAddress())),
      LIMIT - 1,
      'probe-user',
    );
  });

  test('a real route: POST /v1/auth/register is limited per address by "register"', async () => {
    const address = newAddress();
    const register = () =>
      app.request(
        '/v1/auth/register',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `limited-${randomBytes(6).toString('hex')}@example.com`,
            password: 'correct horse battery staple',
            name: 'Limited',
          }),
        },
        from(address),
      );
    const first = await register();
    assert.equal(first.status, 201, await first.clone().text());
    assert.equal(first.headers.get('ratelimit-policy'), '"register";q=30;w=600');
    const header = parseRateLimit(first.headers.get('ratelimit'));
    assert.deepEqual([header.name, header.r, header.t], ['register', 29, 600]);
    const second = await register();
    assert.equal(second.status, 201);
    assert.equal(parseRateLimit(second.headers.get('ratelimit')).r, 28);
    // A request the handler refuses still used up a hit, and says so.
    const invalid = await app.request(
      '/v1/auth/register',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":1}' },
      from(address),
    );
    assert.equal(invalid.status, 422);
    assert.equal(invalid.headers.get('ratelimit-policy'), '"register";q=30;w=600');
    assert.equal(parseRateLimit(invalid.headers.get('ratelimit')).r, 27);
    // Another address has a window of its own.
    const elsewhere = await app.request(
      '/v1/auth/register',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `limited-${randomBytes(6).toString('hex')}@example.com`,
          password: 'correct horse battery staple',
          name: 'Limited',
        }),
      },
      from(newAddress()),
    );
    assert.equal(elsewhere.status, 201);
    assert.equal(parseRateLimit(elsewhere.headers.get('ratelimit')).r, 29);
  });

  test('the window lives in Redis under the service prefix, with the window as its TTL', async () => {
    const address = newAddress();
    await assertCounted(await app.request('/probe/limited', {}, from(address)), LIMIT - 1);
    const redis = deps.redis;
    assert.ok(redis);
    // ioredis adds the key prefix itself.
    const key = `ratelimit:probe:ip:${address}`;
    assert.equal(await redis.get(key), '1');
    const ttl = await redis.pttl(key);
    assert.ok(ttl > 0 && ttl <= WINDOW_SECONDS * 1000, `PTTL ${ttl}`);
  });

  describe('with TRUST_PROXY_HOPS=1', () => {
    let proxied: App;
    before(() => {
      proxied = appWithProbes({ ...deps, settings: { ...deps.settings, TRUST_PROXY_HOPS: 1 } });
    });
    const PROXY = '192.168.99.1';

    test("the address is X-Forwarded-For's right-most entry; spoofed left entries are ignored", async () => {
      const client = newAddress();
      for (let hit = 1; hit <= LIMIT; hit++) {
        // The client writes whatever it likes on the left; the proxy appends what it saw.
        const spoofed = `${newAddress()}, ${newAddress()}`;
        const res = await proxied.request(
          '/probe/limited',
          { headers: { 'x-forwarded-for': `${spoofed}, ${client}` } },
          from(PROXY),
        );
        await assertCounted(res, LIMIT - hit);
      }
      await assertRefused(
        await proxied.request(
          '/probe/limited',
          { headers: { 'x-forwarded-for': `${newAddress()}, ${client}` } },
          from(PROXY),
        ),
      );
      // A different right-most entry, through the same proxy, is another client.
      const other = newAddress();
      await assertCounted(
        await proxied.request(
          '/probe/limited',
          { headers: { 'x-forwarded-for': `${client}, ${other}` } },
          from(PROXY),
        ),
        LIMIT - 1,
      );
    });

    test('the proxy itself is not the subject, so its clients do not share a window', async () => {
      const proxy = newAddress();
      for (let index = 0; index < LIMIT + 2; index++) {
        const res = await proxied.request(
          '/probe/limited',
          { headers: { 'x-forwarded-for': newAddress() } },
          from(proxy),
        );
        await assertCounted(res, LIMIT - 1);
      }
    });
  });
});

describe('the in-memory limiter (no Redis)', () => {
  let deps: TestDeps;
  let app: App;
  before(async () => {
    deps = await createTestDeps({ env: { REDIS_URL: undefined } });
    assert.equal(deps.redis, undefined, 'no Redis configured');
    app = appWithProbes(deps);
  });
  after(() => deps.close());

  test('behaves as the Redis one: headers, 429, addresses apart', async () => {
    const address = newAddress();
    const first = await assertCounted(
      await app.request('/probe/limited', {}, from(address)),
      LIMIT - 1,
    );
    assert.equal(first.t, WINDOW_SECONDS);
    await assertCounted(await app.request('/probe/limited', {}, from(address)), LIMIT - 2);
    await assertCounted(await app.request('/probe/limited', {}, from(address)), LIMIT - 3);
    await assertRefused(await app.request('/probe/limited', {}, from(address)));
    await assertCounted(await app.request('/probe/limited', {}, from(newAddress())), LIMIT - 1);
  });

  test('counts per user on protected routes', async () => {
    const alice = await createTestUser(deps);
    const bob = await createTestUser(deps);
    for (let hit = 1; hit <= LIMIT; hit++) {
      await assertCounted(
        await app.request('/probe/limited-user', { headers: alice.headers }, from(newAddress())),
        LIMIT - hit,
        'probe-user',
      );
    }
    await assertRefused(
      await app.request('/probe/limited-user', { headers: alice.headers }, from(newAddress())),
      'probe-user',
    );
    await assertCounted(
      await app.request('/probe/limited-user', { headers: bob.headers }, from(newAddress())),
      LIMIT - 1,
      'probe-user',
    );
  });

  test('honours TRUST_PROXY_HOPS=1 the same way', async () => {
    const proxied = appWithProbes({
      ...deps,
      settings: { ...deps.settings, TRUST_PROXY_HOPS: 1 },
    });
    const client = newAddress();
    for (let hit = 1; hit <= LIMIT; hit++) {
      await assertCounted(
        await proxied.request(
          '/probe/limited',
          { headers: { 'x-forwarded-for': `${newAddress()}, ${client}` } },
          from('192.168.99.1'),
        ),
        LIMIT - hit,
      );
    }
    await assertRefused(
      await proxied.request(
        '/probe/limited',
        { headers: { 'x-forwarded-for': client } },
        from('192.168.99.2'),
      ),
    );
  });
});

describe('with Redis unreachable', () => {
  let port: number;
  before(async () => {
    port = await closedPort();
  });

  /** Runs `use` on the app with the probes, its Redis on `port`, where nothing answers. */
  async function withRedisDown(onError: 'allow' | 'deny', use: (app: App) => Promise<void>) {
    const deps = await createTestDeps({
      env: {
        REDIS_URL: `redis://127.0.0.1:${port}`,
        RATE_LIMIT_ON_REDIS_ERROR: onError,
        READINESS_TIMEOUT_MS: '300',
      },
    });
    try {
      await use(appWithProbes(deps));
    } finally {
      await deps.close();
    }
  }

  test('RATE_LIMIT_ON_REDIS_ERROR=allow lets requests through and counts the failures', async () => {
    await withRedisDown('allow', async (app) => {
      const before = await limiterErrors(app);
      assert.equal(before, 0);
      const address = newAddress();
      const attempts = LIMIT + 2;
      for (let index = 0; index < attempts; index++) {
        const res = await app.request('/probe/limited', {}, from(address));
        assert.equal(res.status, 200, await res.clone().text());
        // Nothing was counted, so no figures are claimed.
        assert.equal(res.headers.get('ratelimit-policy'), null);
        assert.equal(res.headers.get('ratelimit'), null);
      }
      assert.equal(await limiterErrors(app), attempts, 'one counted error per failed check');
    });
  });

  test('RATE_LIMIT_ON_REDIS_ERROR=deny answers 503 problem documents', async () => {
    await withRedisDown('deny', async (app) => {
      for (let index = 0; index < 2; index++) {
        const res = await app.request('/probe/limited', {}, from(newAddress()));
        const text = await res.text();
        assert.equal(res.status, 503, text);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
        const body = JSON.parse(text) as Record<string, unknown>;
        assert.equal(body.status, 503);
        assert.match(String(body.detail), /rate limit/i);
        assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After on the 503');
      }
      assert.equal(await limiterErrors(app), 2);
      // Routes without a limit are untouched by the limiter's outage.
      assert.equal((await app.request('/livez')).status, 200);
    });
  });
});
