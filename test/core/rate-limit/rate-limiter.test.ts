/**
 * The Redis limiter's counting itself, below the middleware: the hits asked for in one turn
 * of the event loop reach Redis as one script call (watched with MONITOR), and each caller
 * still gets a count of its own, exactly as if it had gone alone. A large policy's busy
 * caller is counted a few requests ahead (a lease), and processes together still never
 * accept more than the limit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  leaseCap,
  type RateLimiter,
  type RateLimitPolicy,
  redisRateLimiter,
} from '../../../src/core/rate-limit/rate-limiter.ts';
import type { Redis } from '../../../src/core/redis.ts';
import { captureLogs, deleteRedisKeys, readyTestRedis } from '../../support/deps.ts';
import { type WatchedCommands, watchCommands } from '../../support/redis-monitor.ts';

const prefix = `test:${randomBytes(6).toString('hex')}:`;
const policy: RateLimitPolicy = { name: 'turns', limit: 1_000, windowSeconds: 60 };
/** Too small to lease: every hit goes to Redis. */
const exact: RateLimitPolicy = { name: 'turns-exact', limit: 100, windowSeconds: 60 };

describe('the Redis rate limiter, per turn of the event loop', () => {
  let redis: Redis;
  let limiter: RateLimiter;
  /** The script calls MONITOR saw that touched this file's keys. */
  let scripts: WatchedCommands;

  before(async () => {
    redis = await readyTestRedis(prefix);
    limiter = redisRateLimiter(redis, { onError: 'allow', logger: (await captureLogs()).logger });
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
    // One key, its window, twenty requests' worth and one ahead, and its limit.
    assert.deepEqual(sent[0]?.slice(2), [
      '1',
      `${prefix}ratelimit:turns:${subject}`,
      '60000',
      '21',
      '1000',
    ]);
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

  test('hits of different turns are different calls, for a policy too small to lease', async () => {
    await callsSoFar(0);
    assert.equal(leaseCap(exact), 1);
    const first = await limiter.hit(exact, 'dave');
    const second = await limiter.hit(exact, 'dave');
    assert.equal((await callsSoFar(2)).length, 2);
    assert.deepEqual([first.remaining, second.remaining], [99, 98]);
  });

  test('a busy caller of a large policy goes to Redis every few requests, its counts exact', async () => {
    await callsSoFar(0);
    const large: RateLimitPolicy = { name: 'turns-large', limit: 10_000, windowSeconds: 60 };
    assert.equal(leaseCap(large), 100);
    const remaining: number[] = [];
    let unwaited = 0;
    for (let index = 0; index < 300; index++) {
      const hit = limiter.hit(large, 'erin');
      if (!(hit instanceof Promise)) unwaited += 1;
      remaining.push((await hit).remaining);
    }
    // A hit answered from the lease comes back as it is: every one but those nine calls.
    assert.equal(unwaited, 300 - 9);
    assert.deepEqual(
      remaining,
      Array.from({ length: 300 }, (_, index) => large.limit - index - 1),
    );
    // Taken 1 + 1, 1 + 2, 1 + 4, … then 1 + 100 (1% of the limit) at a time: nine calls for
    // 300 hits, not 300.
    const sent = await callsSoFar(9);
    assert.equal(sent.length, 9, `${sent.length} calls`);
    assert.deepEqual(
      sent.map((args) => args[5]),
      ['2', '3', '5', '9', '17', '33', '65', '101', '101'],
    );
  });

  test('a lease left over when its window ends is not used in the next', async () => {
    await callsSoFar(0);
    const short: RateLimitPolicy = { name: 'turns-short', limit: 200, windowSeconds: 1 };
    assert.equal((await limiter.hit(short, 'fred')).remaining, 199);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const next = await limiter.hit(short, 'fred');
    assert.equal(next.remaining, 199, 'a new window, counted in Redis');
    assert.equal((await callsSoFar(2)).length, 2);
  });
});

test('a lost connection ends the leases: the next request is not served from one', async () => {
  const connection = await readyTestRedis(prefix);
  const limiter = redisRateLimiter(connection, {
    onError: 'allow',
    logger: (await captureLogs()).logger,
  });
  const leased: RateLimitPolicy = { name: 'leased', limit: 1_000, windowSeconds: 60 };
  assert.equal((await limiter.hit(leased, 'hank')).allowed, true, 'one used, one taken ahead');
  const closed = once(connection, 'close');
  connection.disconnect();
  await closed;
  // Let through as Redis is unreachable (`allow`), uncounted: not from what was taken ahead.
  const next = await limiter.hit(leased, 'hank');
  assert.deepEqual([next.allowed, next.uncounted], [true, true]);
});

test('a limiter that refuses when Redis fails takes nothing ahead', async () => {
  const connection = await readyTestRedis(prefix);
  after(() => connection.disconnect());
  const strict = redisRateLimiter(connection, {
    onError: 'deny',
    logger: (await captureLogs()).logger,
  });
  const large: RateLimitPolicy = { name: 'strict', limit: 10_000, windowSeconds: 60 };
  for (let index = 1; index <= 5; index++) {
    assert.equal((await strict.hit(large, 'ida')).remaining, large.limit - index);
    // Redis holds exactly the requests let through: none taken ahead.
    assert.equal(await connection.get('ratelimit:strict:ida'), String(index));
  }
});

describe('the Redis rate limiter, in two processes', () => {
  const shared: RateLimitPolicy = { name: 'shared', limit: 1_000, windowSeconds: 60 };
  const connections: Redis[] = [];
  after(() => {
    for (const connection of connections) connection.disconnect();
  });

  test('processes hitting one key together accept exactly the limit, never more', async () => {
    // Each limiter has its own connection and its own leases, as two processes would.
    const limiters = await Promise.all(
      [0, 1].map(async () => {
        const connection = await readyTestRedis(prefix);
        connections.push(connection);
        return redisRateLimiter(connection, {
          onError: 'allow',
          logger: (await captureLogs()).logger,
        });
      }),
    );
    assert.equal(leaseCap(shared), 10);
    const accepted = [0, 0];
    await Promise.all(
      limiters.map(async (one, which) => {
        // Ten callers in each, until each is refused: a lease is used up before going back.
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            for (;;) {
              const outcome = await one.hit(shared, 'gina');
              if (!outcome.allowed) return;
              accepted[which] = (accepted[which] ?? 0) + 1;
            }
          }),
        );
      }),
    );
    assert.equal((accepted[0] ?? 0) + (accepted[1] ?? 0), shared.limit, `${accepted}`);
    assert.ok((accepted[0] ?? 0) > 0 && (accepted[1] ?? 0) > 0, `both took part: ${accepted}`);
    const counted = await connections[0]?.get('ratelimit:shared:gina');
    assert.equal(counted, String(shared.limit));
  });
});
