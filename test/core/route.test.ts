/**
 * What `defineRoute` adds to an operation at run time, in the app: here, a deprecated
 * operation's `Deprecation` and `Sunset` on every answer it gives, refusals and errors too.
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
      .openapi(oldGuardedRoute, (c) => c.json({ name: 'signed in' }, 200)),
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
