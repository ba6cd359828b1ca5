import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { createRedis, type Redis } from '../../src/core/redis.ts';
import { TEST_REDIS_URL } from '../support/deps.ts';

const opened: Redis[] = [];
after(() => {
  for (const redis of opened) redis.disconnect();
});

// Decision 093: the commands every request sends are gathered per turn by `perTurn`; a
// pipeline built by ioredis per tick around the one command left cost more than it saved.
test('neither the request nor the worker connection auto-pipelines', async () => {
  for (const role of ['request', 'worker'] as const) {
    const redis = createRedis({
      url: TEST_REDIS_URL,
      cluster: false,
      keyPrefix: 'redis-test:',
      role,
    });
    opened.push(redis);
    // The request connection queues nothing while it connects.
    if (redis.status !== 'ready') await once(redis, 'ready');
    // Two commands of one tick: an auto-pipelining client holds them until the tick ends.
    const sent = Promise.all([redis.get('a'), redis.get('b')]);
    assert.equal(redis.autoPipelineQueueSize, 0, role);
    await sent;
  }
});
