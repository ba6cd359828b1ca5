import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ttlCache } from '../../src/core/ttl-cache.ts';

test('an entry expires its ttl after it was set; the least recently used goes first', async () => {
  const cache = ttlCache<string, string>({ max: 2, ttlMs: 40 });
  cache.set('a', 'one');
  cache.set('b', 'two');
  assert.equal(cache.get('a'), 'one');
  cache.set('c', 'three');
  assert.equal(cache.has('b'), false, 'b was the least recently used');
  assert.equal(cache.get('a'), 'one');
  await sleep(80);
  assert.equal(cache.get('a'), undefined);
  assert.equal(cache.has('c'), false);
});

test('lookups arm no timer, however far apart', async (t) => {
  const cache = ttlCache<string, string>({ max: 10, ttlMs: 60_000 });
  cache.set('a', 'one');
  const armed = t.mock.method(globalThis, 'setTimeout');
  for (let index = 0; index < 3; index++) {
    // Past lru-cache's default clock resolution (1 ms), after which it would read anew.
    await sleep(5);
    assert.equal(cache.get('a'), 'one');
    assert.equal(cache.has('a'), true);
  }
  // `sleep` arms its own timers through another path; only the cache's would show here.
  assert.equal(armed.mock.callCount(), 0);
});
