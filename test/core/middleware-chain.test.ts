import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono, type MiddlewareHandler } from 'hono';
import { chainMiddleware } from '../../src/core/middleware-chain.ts';

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
    const step =
      (name: string): MiddlewareHandler =>
      async (c, next) => {
        seen.push(`${name} before`);
        await next();
        seen.push(`${name} after ${c.res.status}`);
      };
    const res = await appWith(chainMiddleware([step('a'), step('b')]), seen).request('/');
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
});
