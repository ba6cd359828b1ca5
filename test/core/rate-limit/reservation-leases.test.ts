/**
 * Reservations leased ahead, over the Redis reservation limiter: most reservations are
 * answered without a round trip, every one is counted in Redis before it is allowed (two
 * processes together never pass the limit), what calls give back stays with the process up
 * to its cap, a lease ends before its window, and small limits and `existing` windows are
 * never leased.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { leasedReservations } from '../../../src/core/rate-limit/reservation-leases.ts';
import {
  type ReservationLimiter,
  redisReservationLimiter,
} from '../../../src/core/rate-limit/reservations.ts';
import { closeRedis, type Redis } from '../../../src/core/redis.ts';
import { captureLogs, deleteRedisKeys, readyTestRedis } from '../../support/deps.ts';

const prefix = `test:reservation-leases:${randomBytes(6).toString('hex')}:`;
const connections: Redis[] = [];
const { logger } = await captureLogs();
const minute = { seconds: 60 };

after(async () => {
  await Promise.all(connections.map((redis) => closeRedis(redis)));
  await deleteRedisKeys(prefix);
});

/** A Redis limiter on its own connection, as a process has, and the round trips made to it. */
async function process(): Promise<{
  redis: ReservationLimiter;
  trips: { reserve: number; adjust: number };
}> {
  const connection = await readyTestRedis(prefix);
  connections.push(connection);
  const redis = redisReservationLimiter(connection, { onError: 'deny', logger });
  const trips = { reserve: 0, adjust: 0 };
  return {
    trips,
    redis: {
      ...redis,
      reserve(...args) {
        trips.reserve += 1;
        return redis.reserve(...args);
      },
      adjust(...args) {
        trips.adjust += 1;
        return redis.adjust(...args);
      },
    },
  };
}

/** A key no other test uses. */
function newKey(): string {
  return `window-${randomBytes(4).toString('hex')}`;
}

describe('reservations leased ahead', () => {
  test('after the first two, most reservations are answered without a round trip', async () => {
    const { redis, trips } = await process();
    const leased = leasedReservations(redis);
    const key = newKey();
    const remaining: number[] = [];
    for (let call = 0; call < 50; call++) {
      const outcome = await leased.reserve(key, 10, 100_000, minute);
      assert.equal(outcome.allowed, true);
      remaining.push(outcome.remaining);
    }
    // Ahead: 0, then 10, 20, 40 … doubling up to 1% of the limit (1,000).
    assert.ok(trips.reserve <= 8, `${trips.reserve} round trips for 50 reservations`);
    assert.deepEqual(
      remaining,
      Array.from({ length: 50 }, (_, call) => 100_000 - 10 * (call + 1)),
      'the counts reported are exact for this process’s own reservations',
    );
    const inRedis = (await redis.used(key)).used;
    assert.ok(inRedis >= 500 && inRedis <= 500 + 1_000, `Redis holds ${inRedis}`);
  });

  test('two processes together never pass the limit', async () => {
    const [one, two] = await Promise.all([process(), process()]);
    const leases = [leasedReservations(one.redis), leasedReservations(two.redis)];
    const key = newKey();
    let allowed = 0;
    // 7 at a time against 10,000: each process leases up to 100 ahead.
    for (let round = 0; round < 1_000; round++) {
      const outcomes = await Promise.all(
        leases.flatMap((leased) => [
          leased.reserve(key, 7, 10_000, minute),
          leased.reserve(key, 7, 10_000, minute),
        ]),
      );
      allowed += outcomes.filter((outcome) => outcome.allowed).length;
      if (outcomes.every((outcome) => !outcome.allowed)) break;
    }
    assert.ok(allowed * 7 <= 10_000, `${allowed} reservations of 7 allowed`);
    assert.ok(allowed * 7 > 10_000 - 2 * 100 - 7, 'the leases left over are at most the caps');
    assert.ok((await one.redis.used(key)).used <= 10_000);
  });

  test('what a call gives back stays with the process up to its cap, the rest goes back', async () => {
    const { redis, trips } = await process();
    const leased = leasedReservations(redis);
    const key = newKey();
    await leased.reserve(key, 600, 100_000, minute);
    await leased.adjust(key, -550);
    assert.equal(trips.adjust, 0, 'given back to the lease');
    assert.equal((await redis.used(key)).used, 600);
    const again = await leased.reserve(key, 500, 100_000, minute);
    assert.equal(again.used, 550, 'the 50 used and the 500 reserved now');
    assert.equal(trips.reserve, 1, 'answered from what the first call gave back');

    const full = newKey();
    await leased.reserve(full, 900, 100_000, minute);
    // 900 and 900 ahead: Redis holds 2,700, the lease 900.
    await leased.reserve(full, 900, 100_000, minute);
    assert.equal((await redis.used(full)).used, 2_700);
    // 1,790 would be held: 790 past the cap (1% of the limit) go back to the window.
    await leased.adjust(full, -890);
    assert.equal(trips.adjust, 1);
    assert.equal((await redis.used(full)).used, 1_910);
    assert.equal((await leased.reserve(full, 0, 100_000, minute)).used, 910);
  });

  test('a call that needs more than its lease holds is taken from the window', async () => {
    const { redis } = await process();
    const leased = leasedReservations(redis);
    const key = newKey();
    await leased.reserve(key, 100, 100_000, minute);
    await leased.adjust(key, 250);
    assert.equal((await redis.used(key)).used, 350);
    const next = await leased.reserve(key, 0, 100_000, minute);
    assert.equal(next.used, 350);
  });

  test('a lease ahead refused by a fuller window is not asked for; the call is', async () => {
    const [mine, other] = await Promise.all([process(), process()]);
    const leased = leasedReservations(mine.redis);
    const key = newKey();
    await leased.reserve(key, 10, 1_000, minute);
    await other.redis.reserve(key, 975, 1_000, minute);
    // 10 + 10 ahead would make 1,005: refused, so the 10 alone are asked for.
    const outcome = await leased.reserve(key, 10, 1_000, minute);
    assert.equal(outcome.allowed, true);
    assert.equal((await mine.redis.used(key)).used, 995);
    assert.equal((await leased.reserve(key, 10, 1_000, minute)).allowed, false);
  });

  test('a lease ends a second before its window, and the next reservation goes to Redis', async () => {
    const { redis, trips } = await process();
    let now = Date.now();
    const leased = leasedReservations(redis, () => now);
    const key = newKey();
    // The second takes 10 ahead: 5 of them now, the other 5 after the window's 59th second.
    for (let call = 0; call < 2; call++) await leased.reserve(key, 10, 100_000, minute);
    const before = trips.reserve;
    await leased.reserve(key, 5, 100_000, minute);
    assert.equal(trips.reserve, before, 'from the lease');
    now += 59_000;
    await leased.reserve(key, 5, 100_000, minute);
    assert.equal(trips.reserve, before + 1, 'the lease ended with the window’s last second');
  });

  test('limits under a hundred reservations and existing windows are never leased', async () => {
    const { redis, trips } = await process();
    const leased = leasedReservations(redis);
    const small = newKey();
    for (let call = 0; call < 5; call++) await leased.reserve(small, 1, 60, minute);
    await leased.adjust(small, -1);
    assert.deepEqual(trips, { reserve: 5, adjust: 1 });
    const budget = newKey();
    await redis.seed(budget, 0, minute);
    for (let call = 0; call < 5; call++) {
      await leased.reserve(budget, 10, 100_000, minute, { existing: true });
    }
    assert.equal(trips.reserve, 10);
    assert.equal((await redis.used(budget)).used, 50);
  });
});
