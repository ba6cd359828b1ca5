/**
 * What `defineRoute` adds to an operation at run time, in the app: a deprecated operation's
 * `Deprecation` and `Sunset` on every answer it gives, refusals and errors too; and the 415
 * naming the types an operation with a body accepts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../src/app.ts';
import { ProblemError } from '../../src/core/problem.ts';
import { defineRoute, jsonResponse } from '../../src/core/route.ts';
import { createRouter } from '../../src/core/router.ts';
import { createTestDeps, type TestDeps } from '../support/deps.ts';

const oldRoute = defineRoute({
  method: 'get',
  path: '/probe/old/{name}',
  operationId: 'getOldProbe',
  summary: 'A deprecated probe',
  tags: ['probe'],
  deprecated: true,
  sunset: '2031-01-01',
  rateLimit: false,
  request: { params: z.object({ name: z.string().max(8) }) },
  responses: { 200: jsonResponse(z.object({ name: z.string() }), 'The name') },
});

const oldGuardedRoute = defineRoute({
  method: 'get',
  path: '/probe/old-guarded',
  operationId: 'getOldGuardedProbe',
  summary: 'A deprecated probe for signed-in callers',
  tags: ['probe'],
  deprecated: true,
  sunset: '2031-01-01',
  auth: { scopes: [] },
  responses: { 200: jsonResponse(z.object({ name: z.string() }), 'A name') },
});

const strictRoute = defineRoute({
  method: 'get',
  path: '/probe/strict/{name}',
  operationId: 'getStrictProbe',
  summary: 'A probe whose path parameters are strict',
  tags: ['probe'],
  rateLimit: false,
  request: { params: z.object({ name: z.string().max(8) }).strict() },
  responses: { 200: jsonResponse(z.object({ name: z.string() }), 'The name') },
});

const postRoute = defineRoute({
  method: 'post',
  path: '/probe/notes',
  operationId: 'createProbeNote',
  summary: 'A probe taking a JSON body',
  tags: ['probe'],
  rateLimit: false,
  request: {
    body: { content: { 'application/json': { schema: z.object({ text: z.string() }) } } },
  },
  responses: { 200: jsonResponse(z.object({ text: z.string() }), 'The note') },
});

let deps: TestDeps;
let app: ReturnType<typeof createApp>;

before(async () => {
  deps = await createTestDeps();
  app = createApp(deps);
  app.route(
    '/',
    createRouter()
      .openapi(oldRoute, (c) => {
        const { name } = c.req.valid('param');
        if (name === 'gone') throw new ProblemError(404, { detail: 'No such name' });
        return c.json({ name }, 200);
      })
      .openapi(oldGuardedRoute, (c) => c.json({ name: 'signed in' }, 200))
      .openapi(strictRoute, (c) => c.json(c.req.valid('param'), 200))
      .openapi(postRoute, (c) => c.json(c.req.valid('json'), 200)),
  );
});
after(() => deps.close());

const SUNSET = 'Wed, 01 Jan 2031 00:00:00 GMT';

for (const [what, path, status] of [
  ['an answer', '/probe/old/ada', 200],
  ['an error the handler throws', '/probe/old/gone', 404],
  ['refused input', '/probe/old/far-too-long', 422],
  ['a caller refused before the handler (no credentials)', '/probe/old-guarded', 401],
] as const) {
  test(`a deprecated operation announces it on ${what}`, async () => {
    const res = await app.request(path);
    assert.equal(res.status, status);
    assert.equal(res.headers.get('deprecation'), 'true');
    assert.equal(res.headers.get('sunset'), SUNSET);
  });
}

test('path parameters reach the handler decoded, whether their schema is strict or not', async () => {
  for (const [path, name] of [
    ['/probe/old/%61d%C3%A9', 'adé'],
    ['/probe/strict/%61d%C3%A9', 'adé'],
  ] as const) {
    const res = await app.request(path);
    assert.deepEqual([res.status, await res.json()], [200, { name }], path);
  }
  // Checked as decoded: `%61bcdefgh` is ten characters as sent and eight as read.
  assert.equal((await app.request('/probe/strict/%61bcdefgh')).status, 200);
  assert.equal((await app.request('/probe/strict/%61bcdefghi')).status, 422);
});

test('a body of a type the operation does not read is 415 naming the types it accepts', async () => {
  const stream = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
  for (const [what, headers, body] of [
    ['another type, with a body', { 'content-type': 'text/plain' }, '{"text":"a"}'],
    ['another type, with no body', { 'content-type': 'text/plain' }, undefined],
    ['no type, a body of unknown length', {}, stream('{"text":"a"}')],
  ] as const) {
    const res = await app.request('/probe/notes', {
      method: 'POST',
      headers,
      body,
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    });
    assert.equal(res.status, 415, what);
    assert.equal(res.headers.get('accept-post'), 'application/json', what);
    const { detail } = (await res.json()) as { detail: string };
    assert.match(detail, /^This operation accepts a body of type application\/json;/, what);
  }
  const accepted = await app.request('/probe/notes', {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: '{"text":"a"}',
  });
  assert.deepEqual([accepted.status, await accepted.json()], [200, { text: 'a' }]);
});
