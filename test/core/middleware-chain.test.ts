import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { chainMiddleware, layeredMiddleware } from '../../src/core/middleware-chain.ts';
import { notingMiddleware } from '../support/noting-middleware.ts';

const appWith = (chain: MiddlewareHandler, seen: string[]) =>
  new Hono()
    .get('/', chain, (c) => {
      seen.push('handler');
      return c.text('handled');
    })
    .onError((error, c) => c.text(`error: ${error.message}`, 500));

describe('chainMiddleware', () => {
  test('runs each in order around the handler, and each sees the answer after', async () => {
    const seen: string[] = [];
    const res = await appWith(
      chainMiddleware([notingMiddleware('a', seen), notingMiddleware('b', seen)]),
      seen,
    ).request('/');
    assert.equal(await res.text(), 'handled');
    assert.deepEqual(seen, ['a before', 'b before', 'handler', 'b after 200', 'a after 200']);
  });

  test('a middleware that answers itself stops the chain, and its answer is sent', async () => {
    const seen: string[] = [];
    const refuse: MiddlewareHandler = async (c) => c.text('refused', 403);
    const after: MiddlewareHandler = async (_c, next) => {
      seen.push('after');
      await next();
    };
    const res = await appWith(chainMiddleware([refuse, after]), seen).request('/');
    assert.equal(res.status, 403);
    assert.equal(await res.text(), 'refused');
    assert.deepEqual(seen, []);
  });

  test('an error thrown in the chain reaches the error handler; nothing after it runs', async () => {
    const seen: string[] = [];
    const fail: MiddlewareHandler = async () => {
      throw new Error('no');
    };
    const res = await appWith(chainMiddleware([fail]), seen).request('/');
    assert.equal(await res.text(), 'error: no');
    assert.deepEqual(seen, []);
  });

  test('one that throws at once, not async, rejects the next() of the one before it', async () => {
    const seen: string[] = [];
    const outer: MiddlewareHandler = async (_c, next) => {
      try {
        await next();
      } catch (error) {
        seen.push(`outer caught ${error instanceof Error ? error.message : error}`);
        throw error;
      }
    };
    // A plain function's throw reaches `outer` as its next() rejecting; a next() that threw
    // at once instead would escape a middleware that chains `next().then(…)`.
    const nextOf: MiddlewareHandler = (_c, next) => {
      const pending = next();
      seen.push(`next() gave a ${pending instanceof Promise ? 'promise' : 'throw'}`);
      return pending;
    };
    const throwsAtOnce: MiddlewareHandler = () => {
      throw new Error('at once');
    };
    const res = await appWith(chainMiddleware([outer, nextOf, throwsAtOnce]), seen).request('/');
    assert.equal(await res.text(), 'error: at once');
    assert.deepEqual(seen, ['next() gave a promise', 'outer caught at once']);
  });

  test('next() called twice is refused, as Hono’s every refuses it', async () => {
    const seen: string[] = [];
    const twice: MiddlewareHandler = async (_c, next) => {
      await next();
      await next();
    };
    const res = await appWith(chainMiddleware([twice, notingMiddleware('a', seen)]), seen).request(
      '/',
    );
    assert.equal(await res.text(), 'error: next() called multiple times');
    assert.deepEqual(seen, ['a before', 'handler', 'a after 200']);
  });
});

describe('layeredMiddleware', () => {
  const answerError = (error: Error, c: Context) => c.text(`answered: ${error.message}`, 500);
  const appAround = (layered: MiddlewareHandler, seen: string[]) =>
    new Hono()
      .use(layered)
      .get('/', (c) => {
        seen.push('handler');
        return c.text('handled');
      })
      .onError((error, c) => c.text(`app error: ${error.message}`, 500));
  const outer = (seen: string[]): MiddlewareHandler => {
    const step =
      (name: string): MiddlewareHandler =>
      async (c, next) => {
        seen.push(`${name} before`);
        await next();
        seen.push(`${name} after ${c.res.status} ${await c.res.clone().text()}`);
      };
    return step('outer');
  };

  test('runs each in order around the rest of the app, as layers of it would', async () => {
    const seen: string[] = [];
    const inner = layeredMiddleware(
      [notingMiddleware('a', seen), notingMiddleware('b', seen)],
      answerError,
    );
    const res = await appAround((c, next) => inner(c, next), seen).request('/');
    assert.equal(await res.text(), 'handled');
    assert.deepEqual(seen, ['a before', 'b before', 'handler', 'b after 200', 'a after 200']);
  });

  test('an error thrown or rejected by one is answered there: those before it see the answer', async () => {
    const thrower: MiddlewareHandler = () => {
      throw new Error('thrown');
    };
    const rejecter: MiddlewareHandler = async () => {
      throw new Error('rejected');
    };
    for (const [fail, message] of [
      [thrower, 'thrown'],
      [rejecter, 'rejected'],
    ] as const) {
      const seen: string[] = [];
      const inner = layeredMiddleware([outer(seen), fail], answerError);
      const res = await appAround((c, next) => inner(c, next), seen).request('/');
      assert.equal(res.status, 500);
      assert.deepEqual(seen, ['outer before', `outer after 500 answered: ${message}`]);
    }
  });

  test('one that answers itself is the answer; what is thrown that is no Error goes on up', async () => {
    const seen: string[] = [];
    const refuse: MiddlewareHandler = async (c) => c.text('refused', 403);
    const inner = layeredMiddleware([outer(seen), refuse], answerError);
    const res = await appAround((c, next) => inner(c, next), seen).request('/');
    assert.equal(res.status, 403);
    assert.deepEqual(seen, ['outer before', 'outer after 403 refused']);

    const odd = layeredMiddleware(
      [
        () => {
          throw 'not an error';
        },
      ],
      answerError,
    );
    await assert.rejects(
      async () => appAround((c, next) => odd(c, next), []).request('/'),
      (thrown: unknown) => thrown === 'not an error',
    );
  });
});
