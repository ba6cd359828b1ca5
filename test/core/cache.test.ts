/**
 * The Redis cache: a value is remembered for every process, and forgotten after a write;
 * the keys forgotten in one turn of the event loop go to Redis in one `DEL` (watched with
 * `MONITOR`), and a Redis that is gone fails no caller.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { redisCache } from '../../src/core/cache.ts';
import { createRedis, type Redis } from '../../src/core/redis.ts';
import { captureLogs, deleteRedisKeys, readyTestRedis } from '../support/deps.ts';
import { closedPort } from '../support/processes.ts';
import { type WatchedCommands, watchCommands } from '../support/redis-monitor.ts';

const prefix = `test:${randomBytes(6).toString('hex')}:`;
let redis: Redis;
/** The DELs MONITOR saw on this file's keys. */
let deletes: WatchedCommands;

before(async () => {
  redis = await readyTestRedis(prefix);
  deletes = await watchCommands(/^del$/i, prefix);
});
after(async () => {
  // Optional: a `before` that failed half-way must still let the file end.
  deletes?.close();
  redis?.disconnect();
  await deleteRedisKeys(prefix);
});

test('keys forgotten in one turn go in one DEL, and are all forgotten', async () => {
  const cache = redisCache(redis, (await captureLogs()).logger);
  let loads = 0;
  const load = async () => {
    loads += 1;
    return { n: loads };
  };
  for (const key of ['a', 'b', 'c']) await cache.remember(key, 60, load);
  assert.deepEqual(await cache.remember('a', 60, load), { value: { n: 1 }, hit: true });
  await Promise.all([cache.forget('a'), cache.forget('b'), cache.forget('c')]);
  // MONITOR reports a moment later.
  await sleep(100);
  assert.deepEqual(deletes.seen, [
    ['del', `${prefix}cache:a`, `${prefix}cache:b`, `${prefix}cache:c`],
  ]);
  assert.deepEqual(await cache.remember('b', 60, load), { value: { n: 4 }, hit: false });
});

test('with Redis gone, remembering loads and forgetting fails nobody', async () => {
  const logs = await captureLogs();
  const gone = createRedis({
    url: `redis://127.0.0.1:${await closedPort()}`,
    keyPrefix: prefix,
    role: 'request',
  });
  try {
    const cache = redisCache(gone, logs.logger);
    assert.deepEqual(await cache.remember('x', 60, async () => 7), { value: 7, hit: false });
    await Promise.all([cache.forget('x'), cache.forget('y')]);
    assert.ok(logs.records().some((record) => record.msg === 'cache unavailable'));
  } finally {
    gone.disconnect();
  }
});
