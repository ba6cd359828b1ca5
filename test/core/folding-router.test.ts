import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { matchedRoutes } from 'hono/route';
import { FoldingRouter } from '../../src/core/folding-router.ts';
import { COMPLETED, chainMiddleware } from '../../src/core/middleware-chain.ts';
import { StaticPathRouter } from '../../src/core/static-path-router.ts';
import { notingMiddleware } from '../support/noting-middleware.ts';

const answered = (error: Error, c: Context) => c.text(`answered: ${error.message}`, 500);

/** An app on the folding router, its error handler set, as `createRouter` makes one. */
function foldingApp(answerError: ErrorHandler = answered) {
  const router = new FoldingRouter(new StaticPathRouter());
  const app = new Hono({ router });
  app.onError(answerError);
  router.answerErrorsWith(answerError);
  return { app, router };
}

/** Like `notingMiddleware`, but not async: it finishes at once when the rest did. */
const aroundAtOnce =
  (name: string, seen: string[]): MiddlewareHandler =>
  (c, next) => {
    seen.push(`${name} before`);
    const rest = next();
    if (rest === COMPLETED) {
      seen.push(`${name} after ${c.res.status} at once`);
      return COMPLETED;
    }
    return rest.then(() => {
      seen.push(`${name} after ${c.res.status}`);
    });
  };

describe('FoldingRouter', () => {
  test('hands Hono one handler for a path several match, which runs them all in order', () => {
    const { app, router } = foldingApp();
    const seen: string[] = [];
    app.use(notingMiddleware('app', seen));
    app.use('/things/*', notingMiddleware('things', seen));
    app.get('/things/:id', (c) => c.text(`thing ${c.req.param('id')}`));
    const [entries] = router.match('GET', '/things/7');
    assert.equal(entries.length, 1);
    // The same combination of routes is folded once.
    assert.equal(router.match('GET', '/things/8')[0][0]?.[0][0], entries[0]?.[0][0]);
  });

  test('runs the middleware and the handler as the composer would, each seeing the answer', async () => {
    const { app } = foldingApp();
    const seen: string[] = [];
    app.use(notingMiddleware('app', seen));
    app.use('/things/*', notingMiddleware('things', seen));
    app.get('/things/:id', (c) => {
      seen.push('handler');
      return c.text(`thing ${c.req.param('id')}`);
    });
    const res = await app.request('/things/7');
    assert.equal(await res.text(), 'thing 7');
    assert.deepEqual(seen, [
      'app before',
      'things before',
      'handler',
      'things after 200',
      'app after 200',
    ]);
  });

  test('a request whose every part finishes at once is answered at once, not in a promise', () => {
    const { app } = foldingApp();
    const seen: string[] = [];
    app.use(aroundAtOnce('app', seen));
    app.get('/livez', (c) => c.json({ status: 'ok' }));
    const answer = app.fetch(new Request('http://localhost/livez'));
    assert.ok(answer instanceof Response, 'a response, not a promise of one');
    assert.equal(answer.status, 200);
    assert.deepEqual(seen, ['app before', 'app after 200 at once']);
  });

  test('an Error thrown at a layer is answered there: the layers before it see the answer', async () => {
    for (const fail of [
      () => {
        throw new Error('thrown');
      },
      async () => {
        throw new Error('rejected');
      },
    ] satisfies MiddlewareHandler[]) {
      const { app } = foldingApp();
      const seen: string[] = [];
      app.use(notingMiddleware('app', seen));
      app.use('/things/*', fail);
      app.get('/things/:id', (c) => c.text('not reached'));
      const res = await app.request('/things/7');
      assert.equal(res.status, 500);
      assert.match(await res.text(), /^answered: (thrown|rejected)$/);
      assert.deepEqual(seen, ['app before', 'app after 500']);
    }
  });

  test('a handler that throws at once is answered at its layer too', async () => {
    const { app } = foldingApp();
    const seen: string[] = [];
    app.use(aroundAtOnce('app', seen));
    app.get('/boom', () => {
      throw new Error('boom');
    });
    const answer = app.fetch(new Request('http://localhost/boom'));
    assert.ok(answer instanceof Response);
    assert.equal(await answer.text(), 'answered: boom');
    assert.deepEqual(seen, ['app before', 'app after 500 at once']);
  });

  test('a path only middleware matches gets the app’s 404 through the last next()', async () => {
    const { app } = foldingApp();
    const seen: string[] = [];
    app.use(notingMiddleware('app', seen));
    app.use('/things/*', notingMiddleware('things', seen));
    app.notFound((c) => c.text('no such thing', 404));
    const res = await app.request('/things/nothing/here');
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'no such thing');
    assert.deepEqual(seen, ['app before', 'things before', 'things after 404', 'app after 404']);
  });

  test('an Error the last next() rejects with is answered by the layer that called it', async () => {
    const { app } = foldingApp();
    const seen: string[] = [];
    app.use(notingMiddleware('app', seen));
    // Hands back the promise of the last next() itself, as a plain middleware does.
    app.use('/things/*', (_c, next) => next());
    app.notFound(() => {
      throw new Error('no 404 today');
    });
    const res = await app.request('/things/nothing');
    assert.equal(await res.text(), 'answered: no 404 today');
    // Answered below `app`, which still saw the answer after its next().
    assert.deepEqual(seen, ['app before', 'app after 500']);
  });

  test('a request nothing answered is an error, as the composer makes it', async () => {
    const { app } = foldingApp();
    app.use(async () => {});
    app.get('/things/:id', (c) => c.text('not reached'));
    const res = await app.request('/things/7');
    assert.equal(res.status, 500);
    assert.match(await res.text(), /Context is not finalized/);
  });

  test('middleware sees the route’s parameters, and the match names the operation', async () => {
    const { app } = foldingApp();
    let seenByMiddleware: string | undefined;
    let named: string[] = [];
    app.use('/things/*', async (c, next) => {
      seenByMiddleware = c.req.param('id');
      await next();
      named = matchedRoutes(c)
        .filter((route) => route.method !== 'ALL')
        .map((route) => route.path);
    });
    app.get('/things/:id', (c) => c.json(c.req.param()));
    const res = await app.request('/things/7');
    assert.deepEqual(await res.json(), { id: '7' });
    assert.equal(seenByMiddleware, '7');
    assert.deepEqual(named, ['/things/:id']);
  });

  test('each layer reads the operation’s own parameters, not another route’s', async () => {
    const { app } = foldingApp();
    let seenByMiddleware: Record<string, string> = {};
    app.use('/api/:version/*', async (c, next) => {
      seenByMiddleware = c.req.param();
      await next();
    });
    app.get('/api/v1/items/:id', (c) => c.json(c.req.param()));
    const res = await app.request('/api/v1/items/9');
    assert.deepEqual(await res.json(), { id: '9' });
    assert.deepEqual(seenByMiddleware, { id: '9' });
  });

  test('next() called twice is refused, as the composer refuses it; the rest runs once', async () => {
    const { app } = foldingApp();
    let runs = 0;
    app.use(async (_c, next) => {
      await next();
      await next();
    });
    app.get('/twice', (c) => {
      runs += 1;
      return c.text('ok');
    });
    const res = await app.request('/twice');
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'answered: next() called multiple times');
    assert.equal(runs, 1);
  });

  test('an answer set before the last next() stands: the 404 comes only when none was', async () => {
    const { app } = foldingApp();
    app.use(async (_c, next) => next());
    app.get('/preset', async (c, next) => {
      c.res = c.text('mine');
      await next();
    });
    const res = await app.request('/preset');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'mine');
  });

  test('a path only middleware matches is left to the composer: a mounted app sees its own path', async () => {
    const { app, router } = foldingApp();
    app.use(async (_c, next) => next());
    app.mount('/legacy', (request) => new Response(new URL(request.url).pathname));
    app.use('*', async (_c, next) => next());
    assert.equal(router.match('GET', '/legacy/a/b')[0].length, 3);
    const res = await app.request('/legacy/a/b');
    assert.equal(await res.text(), '/a/b');
  });

  test('what the error handler throws reaches the layers before as a rejection', async () => {
    const { app } = foldingApp(() => {
      throw new Error('the error handler failed');
    });
    const seen: string[] = [];
    app.use((_c, next) => {
      let rest: Promise<void>;
      try {
        rest = next();
      } catch {
        seen.push('next() threw');
        throw new Error('unexpected');
      }
      return rest.catch((error: unknown) => {
        seen.push('next() rejected');
        throw error;
      });
    });
    app.get('/boom', () => {
      throw new Error('boom');
    });
    await assert.rejects(async () => app.request('/boom'), /the error handler failed/);
    assert.deepEqual(seen, ['next() rejected']);
  });

  test('runs a chained middleware’s parts as layers of its own: an error is answered where it was thrown', async () => {
    const { app } = foldingApp();
    const seen: string[] = [];
    const refuse: MiddlewareHandler = () => {
      throw new Error('refused');
    };
    // Nested, the chain's first part would see the refusal as a rejection; as a layer of the
    // fold, it sees the answer the error handler gave at the refusing layer.
    app.get('/things/:id', chainMiddleware([aroundAtOnce('first', seen), refuse]), (c) =>
      c.text('unreached'),
    );
    const res = await app.request('/things/7');
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'answered: refused');
    assert.deepEqual(seen, ['first before', 'first after 500 at once']);
  });

  test('until it knows how errors are answered, the matches are the inner router’s own', () => {
    const router = new FoldingRouter(new StaticPathRouter());
    const app = new Hono({ router });
    app.use(async (_c, next) => next());
    app.get('/livez', (c) => c.text('ok'));
    assert.equal(router.match('GET', '/livez')[0].length, 2);
  });
});
