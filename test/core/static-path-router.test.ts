/**
 * The router remembers the match of each path declared without parameters, and matches the
 * rest with a regular-expression router of the routes with parameters: what it answers must
 * be what Hono's own router answers, first call and every call after, whatever the order the
 * routes were declared in and whatever method a client sends; for the app's own routes too.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Hono } from 'hono';
import type { Result } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';
import { createApp } from '../../src/app.ts';
import { StaticPathRouter } from '../../src/core/static-path-router.ts';
import { createTestDeps } from '../support/deps.ts';

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

/** The handlers a match gives, each with its parameters by name, whichever router gave it. */
function normalized<T>(result: Result<T>) {
  const [matches, stash] = result;
  return matches.map(([handler, params]) => [
    handler,
    Object.fromEntries(
      Object.entries(params).map(([name, value]) => [
        name,
        typeof value === 'number' && stash ? stash[value] : value,
      ]),
    ),
  ]);
}

describe('the app’s own routes', async () => {
  const deps = await createTestDeps();
  after(() => deps.close());
  const { routes } = createApp(deps);
  const ours = new StaticPathRouter<unknown>();
  const trie = new TrieRouter<unknown>();
  for (const { method, path, handler } of routes) {
    ours.add(method, path, handler);
    trie.add(method, path, handler);
  }
  const samples = ['me', '0193a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b', '%41b', 'a.b', 'x~y'];
  const paths = new Set(['/', '/nowhere', '/v1', '/v1/', '/v1/users/me/more', '/docs/x/y']);
  for (const { path } of routes) {
    for (const sample of samples) {
      const concrete = path.replace(/:[^/]+/g, sample).replace(/\*/g, sample);
      paths.add(concrete);
      paths.add(`${concrete}/`);
      paths.add(`${concrete}/${sample}`);
    }
  }
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PURGE'];

  test('a path with parameters is matched by one regular expression, not the tree', () => {
    // The regular-expression router's results carry the parameters apart, in a stash.
    assert.equal(ours.match('GET', `/v1/items/${samples[1]}`).length, 2);
  });

  test('every path, every method: the handlers and parameters of the trie router', () => {
    assert.ok(
      routes.some(({ path }) => path.includes(':')),
      'routes with parameters',
    );
    for (let round = 0; round < 2; round++) {
      for (const path of paths) {
        for (const method of methods) {
          assert.deepEqual(
            normalized(ours.match(method, path)),
            normalized(trie.match(method, path)),
            `${method} ${path}`,
          );
        }
      }
    }
  });
});
