/**
 * The Redis limiter's counting itself, below the middleware: the hits asked for in one turn
 * of the event loop reach Redis as one script call (watched with MONITOR), and each caller
 * still gets a count of its own, exactly as if it had gone alone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  type RateLimiter,
  type RateLimitPolicy,
  redisRateLimiter,
} from '../../../src/core/rate-limit/rate-limiter.ts';
import type { Redis } from '../../../src/core/redis.ts';
import { captureLogs, deleteRedisKeys, readyTestRedis } from '../../support/deps.ts';
import { type WatchedCommands, watchCommands } from '../../support/redis-monitor.ts';

const prefix = `test:${randomBytes(6).toString('hex')}:`;
const policy: RateLimitPolicy = { name: 'turns', limit: 1_000, windowSeconds: 60 };

describe('the Redis rate limiter, per turn of the event loop', () => {
  let redis: Redis;
  let limiter: RateLimiter;
  /** The script calls MONITOR saw that touched this file's keys. */
  let scripts: WatchedCommands;

  before(async () => {
    redis = await readyTestRedis(prefix);
    limiter = redisRateLimiter(redis, { onError: 'deny', logger: (await captureLogs()).logger });
    scripts = await watchCommands(/^eval/i, prefix);
    // The first call loads the script (EVALSHA, then EVAL on NOSCRIPT): not counted below.
    await limiter.hit(policy, 'warm-up');
  });
  after(async () => {
    // Optional: a `before` that failed half-way must still let the file end.
    scripts?.close();
    redis?.disconnect();
    await deleteRedisKeys(prefix);
  });

  /** Waits until MONITOR has reported what was sent so far, then empties the list. */
  async function callsSoFar(expectedAtLeast: number): Promise<string[][]> {
    const deadline = Date.now() + 5_000;
    while (scripts.seen.length < expectedAtLeast && Date.now() < deadline) await nextTurn();
    // Anything more would arrive right behind: give it a moment to show up.
    await new Promise((resolve) => setTimeout(resolve, 100));
    return scripts.seen.splice(0);
  }

  test('twenty hits in one turn are one script call, each with its own count', async () => {
    await callsSoFar(1);
    const subject = `alice-${randomBytes(3).toString('hex')}`;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => limiter.hit(policy, subject)),
    );
    const sent = await callsSoFar(1);
    assert.equal(sent.length, 1, `one call, not ${sent.length}`);
    assert.equal(sent[0]?.[2], '20', 'twenty keys in it');
    // Counts 1..20, handed out in the order asked: nobody shares one, nobody is skipped.
    assert.deepEqual(
      outcomes.map((outcome) => outcome.remaining),
      Array.from({ length: 20 }, (_, index) => policy.limit - index - 1),
    );
    assert.ok(outcomes.every((outcome) => outcome.allowed && outcome.resetSeconds === 60));
  });

  test('callers of one turn are counted apart, by subject and by policy', async () => {
    await callsSoFar(0);
    const tight: RateLimitPolicy = { name: 'turns-tight', limit: 2, windowSeconds: 30 };
    const [a1, b1, a2, t1, t2, t3] = await Promise.all([
      limiter.hit(policy, 'bob'),
      limiter.hit(policy, 'carol'),
      limiter.hit(policy, 'bob'),
      limiter.hit(tight, 'bob'),
      limiter.hit(tight, 'bob'),
      limiter.hit(tight, 'bob'),
    ]);
    assert.equal((await callsSoFar(1)).length, 1);
    assert.deepEqual(
      [a1, b1, a2].map((outcome) => outcome?.remaining),
      [policy.limit - 1, policy.limit - 1, policy.limit - 2],
    );
    assert.deepEqual(
      [t1, t2, t3].map((outcome) => [outcome?.allowed, outcome?.remaining, outcome?.resetSeconds]),
      [
        [true, 1, 30],
        [true, 0, 30],
        [false, 0, 30],
      ],
      'the tight policy refuses its third hit, with its own window',
    );
  });

  test('hits of different turns are different calls', async () => {
    await callsSoFar(0);
    await limiter.hit(policy, 'dave');
    await limiter.hit(policy, 'dave');
    assert.equal((await callsSoFar(2)).length, 2);
  });
});
