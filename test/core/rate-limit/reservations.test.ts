/**
 * The reservation limiter: one behaviour suite run against Redis and against memory
 * (reserve up to the limit and not past it, adjust both ways but never below 0, fixed and
 * `endsAt` windows that end on time and never move, seed only when absent, exact counts up
 * to 2^53), then what only Redis promises: 200 concurrent reservations from 4 connections
 * never pass the limit, the keys and TTLs it writes, and `onError` when Redis is gone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDependencyUnavailable } from '../../../src/core/dependency-errors.ts';
import {
  memoryReservationLimiter,
  type ReservationLimiter,
  ReservationsUnavailableError,
  redisReservationLimiter,
} from '../../../src/core/rate-limit/reservations.ts';
import { closeRedis, createRedis, type Redis } from '../../../src/core/redis.ts';
import { captureLogs, deleteRedisKeys, readyTestRedis } from '../../support/deps.ts';
import { closedPort } from '../../support/processes.ts';
import { type WatchedCommands, watchCommands } from '../../support/redis-monitor.ts';

const prefix = `test:reservations:${randomBytes(6).toString('hex')}:`;
const connections: Redis[] = [];
const { logger } = await captureLogs();

/** A connection under this file's prefix, ready (it fails fast, as the app's do). */
async function connect(): Promise<Redis> {
  const redis = await readyTestRedis(prefix);
  connections.push(redis);
  return redis;
}

after(async () => {
  await Promise.all(connections.map((redis) => closeRedis(redis)));
  await deleteRedisKeys(prefix);
});

/** A key no other test uses. */
const newKey = () => `k-${randomBytes(4).toString('hex')}`;

/** The same promises, whichever implementation keeps the windows. */
function behaviourSuite(name: string, make: () => Promise<ReservationLimiter>) {
  describe(`${name}: behaviour`, () => {
    let limiter: ReservationLimiter;
    before(async () => {
      limiter = await make();
    });
    const minute = { seconds: 60 };

    test('reserves up to the limit, then refuses without reserving', async () => {
      const key = newKey();
      assert.deepEqual(await limiter.reserve(key, 60, 100, minute), {
        allowed: true,
        used: 60,
        remaining: 40,
        resetSeconds: 60,
      });
      const refused = await limiter.reserve(key, 41, 100, minute);
      assert.equal(refused.allowed, false);
      assert.equal(refused.used, 60, 'the refused amount was not reserved');
      assert.equal(refused.remaining, 40);
      assert.ok(refused.resetSeconds >= 1 && refused.resetSeconds <= 60, 'says when room comes');
      const fills = await limiter.reserve(key, 40, 100, minute);
      assert.deepEqual([fills.allowed, fills.used, fills.remaining], [true, 100, 0]);
      const full = await limiter.reserve(key, 1, 100, minute);
      assert.deepEqual([full.allowed, full.used, full.remaining], [false, 100, 0]);
      assert.deepEqual((await limiter.used(key)).used, 100);
    });

    test('an amount larger than the limit is refused even in a fresh window, which it does not start', async () => {
      const key = newKey();
      const outcome = await limiter.reserve(key, 11, 10, minute);
      assert.deepEqual(outcome, { allowed: false, used: 0, remaining: 10, resetSeconds: 0 });
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 });
    });

    test('a zero amount asks without starting a window', async () => {
      const key = newKey();
      assert.deepEqual(await limiter.reserve(key, 0, 10, minute), {
        allowed: true,
        used: 0,
        remaining: 10,
        resetSeconds: 0,
      });
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 });
      await limiter.reserve(key, 10, 10, minute);
      assert.equal((await limiter.reserve(key, 0, 10, minute)).allowed, true, 'full, not over');
    });

    test('windows are counted apart', async () => {
      const a = newKey();
      const b = newKey();
      await limiter.reserve(a, 10, 10, minute);
      assert.equal((await limiter.reserve(b, 10, 10, minute)).allowed, true);
      assert.equal((await limiter.reserve(a, 1, 10, minute)).allowed, false);
    });

    test('adjust down gives room back, adjust up takes it, and the window never goes below 0', async () => {
      const key = newKey();
      await limiter.reserve(key, 100, 100, minute);
      assert.equal((await limiter.reserve(key, 30, 100, minute)).allowed, false);
      await limiter.adjust(key, -30);
      assert.equal((await limiter.used(key)).used, 70);
      assert.equal((await limiter.reserve(key, 30, 100, minute)).allowed, true, 'room came back');
      await limiter.adjust(key, -50);
      await limiter.adjust(key, 20);
      assert.equal((await limiter.used(key)).used, 70);
      assert.equal((await limiter.reserve(key, 31, 100, minute)).allowed, false, 'room was taken');
      // The real amount may exceed the estimate past the limit: the work is done.
      await limiter.adjust(key, 50);
      const over = await limiter.reserve(key, 0, 100, minute);
      assert.deepEqual([over.allowed, over.used, over.remaining], [false, 120, 0]);
      await limiter.adjust(key, -1_000);
      const usage = await limiter.used(key);
      assert.equal(usage.used, 0, 'clamped at 0');
      assert.ok(usage.resetSeconds >= 1, 'the window itself lives on');
      assert.equal((await limiter.reserve(key, 100, 100, minute)).allowed, true);
    });

    test('adjust is a no-op once the window has ended: it starts nothing', async () => {
      const key = newKey();
      await limiter.adjust(key, 25);
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 });
      await limiter.reserve(key, 5, 10, { seconds: 0.2 });
      await sleep(500);
      await limiter.adjust(key, 25);
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 });
      assert.equal((await limiter.reserve(key, 10, 10, minute)).allowed, true);
    });

    test('a fixed window ends `seconds` after its first reservation; later ones do not move it', async () => {
      const key = newKey();
      const window = { seconds: 1.2 };
      const started = performance.now();
      const first = await limiter.reserve(key, 4, 10, window);
      assert.deepEqual([first.allowed, first.resetSeconds], [true, 2]);
      await sleep(600);
      // Were this to move the end, the window would last until 1.8 s at least.
      assert.equal((await limiter.reserve(key, 4, 10, window)).used, 8);
      assert.equal((await limiter.reserve(key, 4, 10, window)).allowed, false);
      await sleep(started + 1_600 - performance.now());
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 }, 'the window ended');
      const fresh = await limiter.reserve(key, 10, 10, window);
      assert.deepEqual([fresh.allowed, fresh.used], [true, 10], 'a new window started');
    });

    test('an endsAt window ends at that instant, whenever it started', async () => {
      const key = newKey();
      const endsAt = new Date(Date.now() + 700);
      const first = await limiter.reserve(key, 3, 5, { endsAt });
      assert.deepEqual([first.allowed, first.used, first.resetSeconds], [true, 3, 1]);
      await sleep(200);
      // A later call naming another end does not move the window's.
      const second = await limiter.reserve(key, 2, 5, { endsAt: new Date(Date.now() + 60_000) });
      assert.deepEqual([second.allowed, second.used, second.resetSeconds], [true, 5, 1]);
      await sleep(endsAt.getTime() + 400 - Date.now());
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 });
      const day = await limiter.reserve(key, 5, 5, { endsAt: new Date(Date.now() + 86_400_000) });
      assert.equal(day.resetSeconds, 86_400);
    });

    test('an endsAt already past lets the reservation through and keeps nothing', async () => {
      const key = newKey();
      const outcome = await limiter.reserve(key, 3, 5, { endsAt: new Date(Date.now() - 1_000) });
      assert.deepEqual(outcome, { allowed: true, used: 3, remaining: 2, resetSeconds: 0 });
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 });
    });

    test('with `existing`, a missing window is reported and not started; once seeded, reserved in', async () => {
      const key = newKey();
      const missing = await limiter.reserve(key, 5, 100, minute, { existing: true });
      assert.deepEqual(missing, {
        allowed: false,
        missing: true,
        used: 0,
        remaining: 100,
        resetSeconds: 0,
      });
      assert.deepEqual(await limiter.used(key), { used: 0, resetSeconds: 0 }, 'nothing started');
      await limiter.seed(key, 90, minute);
      const reserved = await limiter.reserve(key, 5, 100, minute, { existing: true });
      assert.deepEqual([reserved.allowed, reserved.missing, reserved.used], [true, undefined, 95]);
      const refused = await limiter.reserve(key, 6, 100, minute, { existing: true });
      assert.deepEqual([refused.allowed, refused.missing, refused.used], [false, undefined, 95]);
    });

    test('seed starts a window at a value only when none exists', async () => {
      const key = newKey();
      await limiter.seed(key, 90, minute);
      assert.deepEqual(await limiter.used(key), { used: 90, resetSeconds: 60 });
      assert.equal(
        (await limiter.reserve(key, 11, 100, minute)).allowed,
        false,
        'seeded spend counts',
      );
      assert.equal((await limiter.reserve(key, 10, 100, minute)).used, 100);
      await limiter.seed(key, 5, minute);
      assert.equal((await limiter.used(key)).used, 100, 'a live window is left as it is');

      const period = newKey();
      await limiter.reserve(period, 1, 100, minute);
      await limiter.seed(period, 50, { endsAt: new Date(Date.now() + 5_000) });
      assert.deepEqual(await limiter.used(period), { used: 1, resetSeconds: 60 });

      const ended = newKey();
      await limiter.seed(ended, 50, { seconds: 0.2 });
      assert.equal((await limiter.used(ended)).used, 50);
      await sleep(500);
      await limiter.seed(ended, 7, { endsAt: new Date(Date.now() + 60_000) });
      assert.equal((await limiter.used(ended)).used, 7, 'seeded again once the window ended');
    });

    test('counts exactly up to 2^53 - 1', async () => {
      const key = newKey();
      const limit = Number.MAX_SAFE_INTEGER; // 9_007_199_254_740_991
      assert.equal(
        (await limiter.reserve(key, 1e15 + 1, limit, minute)).used,
        1_000_000_000_000_001,
      );
      await limiter.adjust(key, -1);
      assert.equal((await limiter.used(key)).used, 1e15);
      await limiter.adjust(key, -1e15);
      assert.equal(
        (await limiter.reserve(key, 4_503_599_627_370_495, limit, minute)).used,
        4_503_599_627_370_495,
      );
      // One more than fits must be refused: a rounding count would let it through.
      const over = await limiter.reserve(key, 4_503_599_627_370_497, limit, minute);
      assert.deepEqual([over.allowed, over.remaining], [false, 4_503_599_627_370_496]);
      const exact = await limiter.reserve(key, 4_503_599_627_370_496, limit, minute);
      assert.deepEqual([exact.allowed, exact.used, exact.remaining], [true, limit, 0]);
      assert.equal((await limiter.reserve(key, 1, limit, minute)).allowed, false);
      await limiter.adjust(key, -3);
      assert.equal((await limiter.used(key)).used, limit - 3);
    });

    test('refuses amounts and windows it cannot count exactly', async () => {
      const key = newKey();
      await assert.rejects(limiter.reserve(key, -1, 10, minute), RangeError);
      await assert.rejects(limiter.reserve(key, 1.5, 10, minute), RangeError);
      await assert.rejects(limiter.reserve(key, 2 ** 53, 2 ** 60, minute), RangeError);
      await assert.rejects(limiter.reserve(key, 1, 10, { seconds: 0 }), RangeError);
      await assert.rejects(
        limiter.reserve(key, 1, 10, { endsAt: new Date(Number.NaN) }),
        RangeError,
      );
      await assert.rejects(limiter.adjust(key, 0.5), RangeError);
      await assert.rejects(limiter.seed(key, -1, minute), RangeError);
    });
  });
}

behaviourSuite('Redis', async () =>
  redisReservationLimiter(await connect(), { onError: 'deny', logger }),
);
behaviourSuite('memory', async () => memoryReservationLimiter());

describe('Redis: across connections', () => {
  /** 4 limiters on 4 connections, as 4 processes would have. */
  let limiters: ReservationLimiter[];
  before(async () => {
    limiters = await Promise.all(
      Array.from({ length: 4 }, async () =>
        redisReservationLimiter(await connect(), { onError: 'deny', logger }),
      ),
    );
  });

  /** 200 reservations of `amountOf(i)`, spread over the 4 connections, all in flight at once. */
  async function race(key: string, limit: number, amountOf: (i: number) => number) {
    const attempts = Array.from({ length: 200 }, (_, i) => ({ amount: amountOf(i) }));
    const outcomes = await Promise.all(
      attempts.map(({ amount }, i) =>
        (limiters[i % limiters.length] as ReservationLimiter).reserve(key, amount, limit, {
          seconds: 60,
        }),
      ),
    );
    const allowed = attempts.filter((_, i) => outcomes[i]?.allowed).map(({ amount }) => amount);
    const refused = attempts.filter((_, i) => !outcomes[i]?.allowed).map(({ amount }) => amount);
    return { allowed, refused, sum: allowed.reduce((total, amount) => total + amount, 0) };
  }

  test('200 concurrent reservations of amounts that divide the limit fill it exactly', async () => {
    const key = newKey();
    const { allowed, sum } = await race(key, 500, () => 5);
    assert.equal(sum, 500);
    assert.equal(allowed.length, 100);
    assert.equal((await limiters[0]?.used(key))?.used, 500);
  });

  test('200 concurrent reservations of mixed amounts never pass the limit, and refuse only what did not fit', async () => {
    const key = newKey();
    const limit = 1_000;
    // Amounts 1..37 in a fixed scramble: together about 3.8 times the limit.
    const { allowed, refused, sum } = await race(key, limit, (i) => ((i * 7919) % 37) + 1);
    const used = (await limiters[1]?.used(key))?.used;
    assert.ok(sum <= limit, `reserved ${sum} of ${limit}`);
    assert.equal(used, sum, 'the window holds exactly what was allowed');
    assert.ok(allowed.length > 0 && refused.length > 0);
    // The window only grew, so whatever was refused would not fit even now.
    for (const amount of refused) assert.ok(sum + amount > limit, `${amount} was refused but fits`);
  });

  test('concurrent adjustments all land, and the floor holds under them', async () => {
    const key = newKey();
    await limiters[0]?.reserve(key, 1_000, 1_000, { seconds: 60 });
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => limiters[i % 4]?.adjust(key, i % 2 === 0 ? -7 : 3)),
    );
    assert.equal((await limiters[2]?.used(key))?.used, 1_000 - 100 * 7 + 100 * 3);
    await Promise.all(Array.from({ length: 100 }, (_, i) => limiters[i % 4]?.adjust(key, -13)));
    assert.equal((await limiters[3]?.used(key))?.used, 0);
  });
});

describe('Redis: per turn of the event loop', () => {
  let limiter: ReservationLimiter;
  /** The script calls MONITOR saw that touched this file's keys. */
  let scripts: WatchedCommands;
  before(async () => {
    limiter = redisReservationLimiter(await connect(), { onError: 'deny', logger });
    scripts = await watchCommands(/^eval/i, prefix);
    // The first calls load the scripts (EVALSHA, then EVAL on NOSCRIPT): not counted below.
    await limiter.reserve(newKey(), 1, 10, { seconds: 60 });
    await limiter.adjust(newKey(), 1);
  });
  after(() => scripts?.close());

  /** Waits until MONITOR has reported `expected` calls, and a moment more, then empties it. */
  async function callsSoFar(expected: number): Promise<string[][]> {
    for (let waited = 0; scripts.seen.length < expected && waited < 5_000; waited += 10) {
      await sleep(10);
    }
    await sleep(100);
    return scripts.seen.splice(0);
  }

  test('the reservations of one turn are one script call, each answered in the order asked', async () => {
    await callsSoFar(2);
    const [tokens, requests] = [newKey(), newKey()];
    const outcomes = await Promise.all([
      limiter.reserve(tokens, 60, 100, { seconds: 60 }),
      limiter.reserve(requests, 1, 5, { seconds: 60 }),
      limiter.reserve(tokens, 30, 100, { seconds: 60 }),
      // Past what the first two left: refused, and nothing reserved.
      limiter.reserve(tokens, 20, 100, { seconds: 60 }),
    ]);
    const sent = await callsSoFar(1);
    assert.equal(sent.length, 1, `one call, not ${sent.length}`);
    assert.deepEqual(sent[0]?.[2], '4', 'four keys');
    assert.deepEqual(
      outcomes.map(({ allowed, used }) => [allowed, used]),
      [
        [true, 60],
        [true, 1],
        [true, 90],
        [false, 90],
      ],
    );
  });

  test('the adjustments of one turn are one script call, each landing', async () => {
    await callsSoFar(0);
    const [a, b] = [newKey(), newKey()];
    await Promise.all([
      limiter.reserve(a, 50, 100, { seconds: 60 }),
      limiter.reserve(b, 50, 100, { seconds: 60 }),
    ]);
    await callsSoFar(1);
    await Promise.all([limiter.adjust(a, -20), limiter.adjust(b, 30), limiter.adjust(a, -40)]);
    const sent = await callsSoFar(1);
    assert.equal(sent.length, 1, `one call, not ${sent.length}`);
    assert.equal((await limiter.used(a)).used, 0, 'never below 0');
    assert.equal((await limiter.used(b)).used, 80);
  });
});

describe('Redis: keys', () => {
  let raw: Redis;
  let limiter: ReservationLimiter;
  before(async () => {
    raw = await connect();
    limiter = redisReservationLimiter(raw, { onError: 'deny', logger });
  });

  test('a window is one integer counter under reservation:<key>, expiring with the window', async () => {
    const key = newKey();
    await limiter.reserve(key, 42, 100, { seconds: 30 });
    assert.equal(await raw.get(`reservation:${key}`), '42');
    const ttl = await raw.pttl(`reservation:${key}`);
    assert.ok(ttl > 25_000 && ttl <= 30_000, `PTTL ${ttl}`);

    const period = newKey();
    const endsAt = new Date(Date.now() + 3_600_000);
    await limiter.reserve(period, 1, 100, { endsAt });
    assert.equal(await raw.call('PEXPIRETIME', `reservation:${period}`), endsAt.getTime());
    await limiter.seed(newKey(), 1, { endsAt });
  });

  test('a counter left without an expiry gets the window at the next reservation', async () => {
    const key = newKey();
    await raw.set(`reservation:${key}`, '5');
    const outcome = await limiter.reserve(key, 1, 100, { seconds: 30 });
    assert.deepEqual([outcome.used, outcome.resetSeconds], [6, 30]);
    assert.ok((await raw.pttl(`reservation:${key}`)) > 0);
  });
});

describe('Redis unavailable', () => {
  let down: Redis;
  before(async () => {
    // Nothing listens there: every command fails at once, as on a lost connection.
    down = createRedis({
      url: `redis://127.0.0.1:${await closedPort()}`,
      keyPrefix: prefix,
      role: 'request',
    });
    connections.push(down);
  });

  test("onError 'allow' lets reservations through uncounted, logs once and counts every failure", async () => {
    const logs = await captureLogs();
    let failures = 0;
    const limiter = redisReservationLimiter(down, {
      onError: 'allow',
      logger: logs.logger,
      onFailure: () => {
        failures += 1;
      },
    });
    const outcome = await limiter.reserve('k', 10, 100, { seconds: 60 });
    assert.deepEqual(outcome, {
      allowed: true,
      uncounted: true,
      used: 0,
      remaining: 100,
      resetSeconds: 60,
    });
    const period = await limiter.reserve('k', 10, 100, { endsAt: new Date(Date.now() + 90_000) });
    assert.ok(period.resetSeconds > 80 && period.resetSeconds <= 90, `${period.resetSeconds}`);
    assert.deepEqual(await limiter.used('k'), { used: 0, resetSeconds: 0, uncounted: true });
    await limiter.adjust('k', -5);
    await limiter.seed('k', 5, { seconds: 60 });
    assert.equal(failures, 5);
    const warnings = logs.records().filter((record) => record.level === 40);
    assert.equal(warnings.length, 1, 'one warning per 10 s, not one per call');
    assert.match(String(warnings[0]?.msg), /reservation limiter unavailable; allowing/);
  });

  test("onError 'deny' refuses with ReservationsUnavailableError (503); adjust and seed never throw", async () => {
    let failures = 0;
    const limiter = redisReservationLimiter(down, {
      onError: 'deny',
      logger,
      onFailure: () => {
        failures += 1;
      },
    });
    const error = await limiter.reserve('k', 1, 100, { seconds: 60 }).then(
      () => assert.fail('must refuse'),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof ReservationsUnavailableError);
    assert.ok(isDependencyUnavailable(error), 'the app answers it 503');
    await assert.rejects(limiter.used('k'), ReservationsUnavailableError);
    await limiter.adjust('k', 1);
    await limiter.seed('k', 1, { seconds: 60 });
    assert.equal(failures, 4);
  });
});
