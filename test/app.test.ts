import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { createApp } from '../src/app.ts';
import { defineRoute, jsonResponse } from '../src/core/route.ts';
import { createRouter } from '../src/core/router.ts';
import { captureLogs, createTestDeps, type TestDeps } from './support/deps.ts';

const Echo = z.object({ name: z.string().min(1), age: z.number().int().nonnegative() });

const echo = defineRoute({
  method: 'post',
  path: '/probe/echo/{id}',
  operationId: 'probeEcho',
  summary: 'Echo',
  tags: ['probe'],
  request: {
    params: z.object({ id: z.uuid() }),
    query: z.object({ verbose: z.enum(['yes', 'no']).optional() }),
    body: { content: { 'application/json': { schema: Echo } }, required: true },
  },
  responses: { 200: jsonResponse(Echo, 'The body') },
});

const boom = defineRoute({
  method: 'get',
  path: '/probe/boom',
  operationId: 'probeBoom',
  summary: 'Fails',
  tags: ['probe'],
  responses: { 200: jsonResponse(z.object({}), 'Never') },
});

const slow = defineRoute({
  method: 'get',
  path: '/probe/slow',
  operationId: 'probeSlow',
  summary: 'Slow',
  tags: ['probe'],
  responses: { 200: jsonResponse(z.object({}), 'Too late') },
});

/** Sends a raw query value to PostgreSQL with no schema in between: validation's blind spot. */
const rawValue = defineRoute({
  method: 'get',
  path: '/probe/raw-value',
  operationId: 'probeRawValue',
  summary: 'Stores what it is given, unvalidated',
  tags: ['probe'],
  responses: { 200: jsonResponse(z.object({}), 'Stored') },
});

const ID = '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e';
let deps: TestDeps;
let app: ReturnType<typeof createApp>;
const logs = await captureLogs();

before(async () => {
  deps = await createTestDeps({
    logger: logs.logger,
    env: { BODY_LIMIT_BYTES: '1024', REQUEST_TIMEOUT_MS: '200' },
  });
  app = createApp(deps);
  // Mounted after createApp: the app's middleware and error handling still apply.
  app.route(
    '/',
    createRouter()
      .openapi(echo, (c) => c.json(c.req.valid('json'), 200))
      .openapi(boom, () => {
        throw new Error('secret internal detail');
      })
      .openapi(rawValue, async (c) => {
        const value = c.req.query('value') ?? '';
        const as = c.req.query('as');
        const cast =
          as === 'numeric' ? sql`numeric(12, 2)` : as === 'jsonb' ? sql`jsonb` : sql`uuid`;
        await deps.db.execute(sql`select ${value}::text, ${c.req.query('cast') ?? '1'}::${cast}`);
        return c.json({}, 200);
      })
      .openapi(slow, async (c) => {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return c.json({}, 200);
      }),
  );
});
after(() => deps.close());

async function problemOf(response: Response) {
  assert.equal(response.headers.get('content-type'), 'application/problem+json');
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(body.status, response.status);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.type, 'string');
  return body;
}

const json = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/json', ...headers },
});

describe('error format', () => {
  test('a valid request passes', async () => {
    const res = await app.request(`/probe/echo/${ID}`, json('{"name":"a","age":3}'));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'a', age: 3 });
  });

  test('malformed JSON is 400', async () => {
    const res = await app.request(`/probe/echo/${ID}`, json('{"name":'));
    assert.equal(res.status, 400);
    const problem = await problemOf(res);
    assert.match(String(problem.detail), /JSON/);
  });

  test('a wrong content type is 415', async () => {
    const res = await app.request(`/probe/echo/${ID}`, {
      method: 'POST',
      body: 'name=a',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(res.status, 415);
    const problem = await problemOf(res);
    assert.equal(
      problem.detail,
      'This operation accepts a body of type application/json; this one was sent as text/plain',
    );
    assert.equal(res.headers.get('accept-post'), 'application/json');
  });

  test('a body with no content type is 415 naming the accepted type; +json types are JSON', async () => {
    const untyped = await app.request(`/probe/echo/${ID}`, {
      method: 'POST',
      body: new TextEncoder().encode('{"name":"a","age":1}'),
    });
    assert.equal(untyped.status, 415);
    assert.match(String((await problemOf(untyped)).detail), /no type at all/);
    const merge = await app.request(
      `/probe/echo/${ID}`,
      json('{"name":"a","age":1}', { 'content-type': 'application/merge-patch+json' }),
    );
    assert.equal(merge.status, 200);
  });

  test('a body over the limit is 413, by Content-Length', async () => {
    const res = await app.request(
      `/probe/echo/${ID}`,
      json(JSON.stringify({ name: 'x'.repeat(2000), age: 1 })),
    );
    assert.equal(res.status, 413);
    await problemOf(res);
  });

  test('a body over the limit is 413 when streamed without a length', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(600));
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await app.request(`/probe/echo/${ID}`, {
      method: 'POST',
      body,
      duplex: 'half',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    } as RequestInit);
    assert.equal(res.status, 413);
  });

  test('an unknown route is 404', async () => {
    const res = await app.request('/nothing/here');
    assert.equal(res.status, 404);
    await problemOf(res);
  });

  test('a wrong method is 405 with Allow', async () => {
    const res = await app.request('/livez', { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    await problemOf(res);
  });

  test('invalid input is 422 listing every invalid field of every part at once', async () => {
    const res = await app.request(
      '/probe/echo/not-a-uuid?verbose=maybe',
      json('{"name":"","age":-1.5}'),
    );
    assert.equal(res.status, 422);
    const problem = await problemOf(res);
    const errors = problem.errors as {
      location: string;
      path: string;
      code: string;
      message: string;
    }[];
    const where = errors.map((error) => `${error.location}:${error.path}`).sort();
    assert.deepEqual(where, ['body:age', 'body:name', 'path:id', 'query:verbose']);
    for (const error of errors) {
      assert.ok(error.message.length > 0);
      assert.ok(error.code.length > 0);
    }
  });

  test('an empty JSON body is 400, not 500', async () => {
    const res = await app.request(`/probe/echo/${ID}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 400);
    const problem = await problemOf(res);
    assert.match(String(problem.detail), /JSON/);
  });

  test('an unexpected error is 500 carrying only the request id, and is logged', async () => {
    const res = await app.request('/probe/boom', { headers: { 'x-request-id': 'req-boom-1' } });
    assert.equal(res.status, 500);
    const problem = await problemOf(res);
    assert.equal(problem.requestId, 'req-boom-1');
    assert.doesNotMatch(JSON.stringify(problem), /secret internal detail/);
    assert.match(logs.text(), /secret internal detail/);
  });

  test('text no field may hold is 422 in every part, listed with the other invalid fields', async () => {
    const res = await app.request(
      `/probe/echo/${ID}?verbose=maybe`,
      json(JSON.stringify({ name: 'a\u0000b', age: -1 })),
    );
    assert.equal(res.status, 422);
    const problem = await problemOf(res);
    const errors = problem.errors as { location: string; path: string; code: string }[];
    assert.deepEqual(
      errors.map((error) => `${error.location}:${error.path}:${error.code}`).sort(),
      ['body:age:too_small', 'body:name:nul_character', 'query:verbose:invalid_value'],
    );
    const lone = await app.request(`/probe/echo/${ID}`, json('{"name":"a\\udc00","age":1}'));
    assert.equal(lone.status, 422);
    const loneErrors = (await problemOf(lone)).errors as { path: string; code: string }[];
    assert.deepEqual(loneErrors, [
      {
        location: 'body',
        path: 'name',
        code: 'lone_surrogate',
        message: 'must not contain an unpaired UTF-16 surrogate (not valid Unicode text)',
      },
    ]);
  });

  test('a URL whose escapes are not UTF-8 is 400, not a literal "%ED%A0%80"', async () => {
    for (const url of ['/probe/echo/%ED%A0%80', `/probe/echo/${ID}?verbose=%ff`, '/livez?x=100%']) {
      const res = await app.request(url, json('{"name":"a","age":1}'));
      assert.equal(res.status, 400, url);
      assert.match(String((await problemOf(res)).detail), /malformed/, url);
    }
  });

  test('a value PostgreSQL refuses is 422, never 500, and is logged as a bug', async () => {
    const cases: [string, string][] = [
      ['value=a%00b', '22021'],
      ['value=ok&as=numeric&cast=1e20', '22003'],
      ['value=ok&cast=not-a-uuid', '22P02'],
      // JSON text that escapes a NUL, which PostgreSQL's jsonb cannot hold.
      [`value=ok&as=jsonb&cast=${encodeURIComponent('"\\u0000"')}`, '22P05'],
    ];
    for (const [query, sqlState] of cases) {
      const res = await app.request(`/probe/raw-value?${query}`, {
        headers: { 'x-request-id': `data-exception-${sqlState}` },
      });
      assert.equal(res.status, 422, query);
      assert.match(String((await problemOf(res)).detail), new RegExp(sqlState));
      const logged = logs
        .records()
        .find((record) => record.requestId === `data-exception-${sqlState}` && record.level === 50);
      assert.match(String(logged?.msg), /bug: a value the database refuses/, query);
    }
  });

  test('a request past the timeout is 503', async () => {
    const res = await app.request('/probe/slow');
    assert.equal(res.status, 503);
    await problemOf(res);
  });
});

describe('request id and logs', () => {
  test('a sane incoming id is kept and echoed', async () => {
    const res = await app.request('/livez', { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
  });

  test('an unsafe incoming id is replaced', async () => {
    const res = await app.request('/livez', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    const id = res.headers.get('x-request-id') ?? '';
    assert.notEqual(id, 'bad id\twith spaces');
    assert.match(id, /^[0-9a-f-]{36}$/);
  });

  test('one structured line per request with method, route template, status, duration, id', async () => {
    await app.request(`/probe/echo/${ID}`, {
      ...json('{"name":"a","age":1}'),
      headers: { 'content-type': 'application/json', 'x-request-id': 'log-line-1' },
    });
    const lines = logs
      .records()
      .filter((record) => record.requestId === 'log-line-1' && record.msg === 'request');
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.equal(line?.method, 'POST');
    assert.equal(line?.route, '/probe/echo/:id');
    assert.equal(line?.status, 200);
    assert.equal(typeof line?.durationMs, 'number');
  });

  test('secure headers are set', async () => {
    const res = await app.request('/livez');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(res.headers.get('x-frame-options'));
  });
});

describe('CORS, with the input check behind it', () => {
  const ORIGIN = 'https://app.example';
  let corsLogs: Awaited<ReturnType<typeof captureLogs>>;
  let corsDeps: TestDeps;
  let corsApp: ReturnType<typeof createApp>;
  before(async () => {
    corsLogs = await captureLogs();
    corsDeps = await createTestDeps({
      logger: corsLogs.logger,
      env: { CORS_ORIGINS: ORIGIN, BODY_LIMIT_BYTES: '1024' },
    });
    corsApp = createApp(corsDeps);
  });
  after(() => corsDeps.close());

  test('a refused input (400, 413) carries the CORS headers, its request id and its access line', async () => {
    const cases = [
      { url: '/livez?x=100%', init: { headers: { origin: ORIGIN } }, status: 400 },
      {
        url: '/v1/items',
        init: json(JSON.stringify({ name: 'x'.repeat(2_000) }), { origin: ORIGIN }),
        status: 413,
      },
    ];
    for (const { url, init, status } of cases) {
      const res = await corsApp.request(url, init);
      assert.equal(res.status, status, url);
      await problemOf(res);
      assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN, url);
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/, url);
      const requestId = res.headers.get('x-request-id');
      assert.ok(requestId, url);
      const line = corsLogs
        .records()
        .find((record) => record.msg === 'request' && record.requestId === requestId);
      assert.equal(line?.status, status, url);
    }
  });

  test('a preflight is answered by CORS, with its request id; another origin gets no grant', async () => {
    const preflight = await corsApp.request('/v1/items', {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.ok(preflight.headers.get('x-request-id'));
    const other = await corsApp.request('/livez', {
      headers: { origin: 'https://elsewhere.example' },
    });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});
