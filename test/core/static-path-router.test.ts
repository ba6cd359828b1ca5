/**
 * The router remembers the match of each path declared without parameters: what it answers
 * must be what Hono's own router answers, first call and every call after, whatever the
 * order the routes were declared in and whatever method a client sends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { StaticPathRouter } from '../../src/core/static-path-router.ts';

function appWith(router: boolean) {
  const app = router ? new Hono({ router: new StaticPathRouter() }) : new Hono();
  app.use('/v1/*', async (c, next) => {
    await next();
    c.header('x-seen', 'v1');
  });
  app.get('/v1/users/me', (c) => c.text('me'));
  app.get('/v1/users/:id', (c) => c.text(`user ${c.req.param('id')}`));
  app.get('/livez', (c) => c.text('live'));
  app.on('PURGE', '/livez', (c) => c.text('purged'));
  app.all('/v1/anything', (c) => c.text(`any ${c.req.method}`));
  return app;
}

describe('StaticPathRouter', () => {
  const requests: [string, string][] = [
    ['GET', '/v1/users/me'],
    ['GET', '/v1/users/42'],
    ['GET', '/livez'],
    ['HEAD', '/livez'],
    ['POST', '/livez'],
    ['PURGE', '/livez'],
    ['DELETE', '/v1/anything'],
    ['GET', '/livez/'],
    ['GET', '/nowhere'],
  ];
  test('answers as Hono’s own router does, on the first call and on later ones', async () => {
    const ours = appWith(true);
    const hono = appWith(false);
    for (let round = 0; round < 3; round++) {
      for (const [method, path] of requests) {
        const [a, b] = await Promise.all([ours, hono].map((app) => app.request(path, { method })));
        const what = `${method} ${path}, round ${round}`;
        assert.equal(a?.status, b?.status, what);
        assert.equal(await a?.text(), await b?.text(), what);
        assert.equal(a?.headers.get('x-seen'), b?.headers.get('x-seen'), what);
      }
    }
  });

  test('`/v1/users/me` beside `/v1/users/{id}`: the static route answers, as declared first', async () => {
    const res = await appWith(true).request('/v1/users/me');
    assert.equal(await res.text(), 'me');
  });
});
