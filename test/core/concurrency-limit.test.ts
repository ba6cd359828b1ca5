/**
 * The per-process concurrency gate: slots up to `concurrency`, then a FIFO queue up to
 * `queue`, then `QueueFullError` (a 503 for the app); aborted waiters leave the queue; a
 * release frees one slot however often it is called, and no slot leaks whatever the mix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { concurrencyLimit, QueueFullError } from '../../src/core/concurrency-limit.ts';
import {
  DependencyUnavailableError,
  isDependencyUnavailable,
} from '../../src/core/dependency-errors.ts';

/** Whether `promise` has settled by now (after letting pending callbacks run). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await tick();
  return done;
}

describe('the concurrency limit', { timeout: 10_000 }, () => {
  test('acquires at once below the limit, then waiters get slots in arrival order', async () => {
    const gate = concurrencyLimit({ concurrency: 2, queue: 10 });
    const first = await gate.acquire();
    const second = await gate.acquire();
    assert.deepEqual(gate.stats(), { active: 2, waiting: 0 });

    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map((n) =>
      gate.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    assert.equal(await settled(waiters[0] ?? Promise.reject()), false, 'the third caller waits');
    assert.deepEqual(gate.stats(), { active: 2, waiting: 4 });

    first();
    // A caller arriving just as a slot frees must queue behind the waiters, not take it.
    const late = gate.acquire().then((release) => {
      order.push(5);
      return release;
    });
    assert.deepEqual(gate.stats(), { active: 2, waiting: 4 }, 'the slot went to a waiter');
    const third = await waiters[0];
    assert.deepEqual(order, [1]);
    second();
    third?.();
    await Promise.all(waiters.slice(1, 3));
    assert.deepEqual(order, [1, 2, 3]);
    assert.deepEqual(gate.stats(), { active: 2, waiting: 2 });
    for (const waiter of waiters.slice(1)) (await waiter)();
    (await late)();
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 });
  });

  test('past the queue it throws QueueFullError at once, a 503 saying the upstream is saturated', async () => {
    const gate = concurrencyLimit({ concurrency: 1, queue: 2 });
    const held = await gate.acquire();
    const queued = [gate.acquire(), gate.acquire()];
    const refused = await gate.acquire().then(
      () => assert.fail('a third waiter must be refused'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof QueueFullError);
    assert.ok(refused instanceof DependencyUnavailableError, 'answered 503 by the app');
    assert.ok(isDependencyUnavailable(refused));
    assert.match(refused.message, /upstream is saturated/);
    assert.equal(refused.name, 'QueueFullError');
    assert.deepEqual(gate.stats(), { active: 1, waiting: 2 }, 'the refusal took no place');

    held();
    (await queued[0])?.();
    (await queued[1])?.();
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 });
  });

  test('with queue 0 nobody waits: a full gate refuses', async () => {
    const gate = concurrencyLimit({ concurrency: 1, queue: 0, name: 'The model "m"' });
    const held = await gate.acquire();
    await assert.rejects(gate.acquire(), (error: unknown) => {
      assert.ok(error instanceof QueueFullError);
      assert.match(error.message, /^The model "m" is saturated/);
      return true;
    });
    held();
    (await gate.acquire())();
  });

  test('an aborted waiter leaves the queue, rejected with the reason, and the others move up', async () => {
    const gate = concurrencyLimit({ concurrency: 1, queue: 2 });
    const held = await gate.acquire();
    const controller = new AbortController();
    const aborted = gate.acquire(controller.signal);
    const next = gate.acquire();
    assert.deepEqual(gate.stats(), { active: 1, waiting: 2 });

    const reason = new Error('client went away');
    controller.abort(reason);
    await assert.rejects(aborted, (error: unknown) => error === reason);
    assert.deepEqual(gate.stats(), { active: 1, waiting: 1 }, 'its place is given up');
    // Its place is free again for a new waiter.
    const another = gate.acquire();
    assert.deepEqual(gate.stats(), { active: 1, waiting: 2 });

    held();
    const release = await next;
    assert.equal(await settled(another), false);
    release();
    (await another)();
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 });
  });

  test('an already aborted signal is refused even when a slot is free', async () => {
    const gate = concurrencyLimit({ concurrency: 1, queue: 1 });
    const signal = AbortSignal.abort(new Error('gone'));
    await assert.rejects(gate.acquire(signal), /gone/);
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 });
  });

  test('aborting after the slot came changes nothing: the holder still releases it', async () => {
    const gate = concurrencyLimit({ concurrency: 1, queue: 1 });
    const controller = new AbortController();
    const release = await gate.acquire(controller.signal);
    controller.abort();
    assert.deepEqual(gate.stats(), { active: 1, waiting: 0 });
    release();
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 });
  });

  test('releasing twice frees one slot', async () => {
    const gate = concurrencyLimit({ concurrency: 2, queue: 5 });
    const a = await gate.acquire();
    const b = await gate.acquire();
    const c = gate.acquire();
    const d = gate.acquire();
    a();
    a();
    a();
    await c;
    assert.deepEqual(gate.stats(), { active: 2, waiting: 1 }, 'd still waits');
    assert.equal(await settled(d), false);
    b();
    (await c)();
    (await d)();
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 });
  });

  test('no slot leaks under many random aborts, releases and refusals', async () => {
    const concurrency = 4;
    const gate = concurrencyLimit({ concurrency, queue: 16 });
    let seed = 42;
    // A fixed pseudo-random sequence, so a failure replays the same way.
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let holding = 0;
    let peak = 0;
    const outcomes = { granted: 0, aborted: 0, refused: 0 };
    const caller = async () => {
      const controller = new AbortController();
      if (random() < 0.4) {
        const after = Math.floor(random() * 5);
        void (async () => {
          for (let i = 0; i < after; i++) await tick();
          controller.abort(new Error('gave up'));
        })();
      }
      let release: () => void;
      try {
        release = await gate.acquire(controller.signal);
      } catch (error) {
        if (error instanceof QueueFullError) outcomes.refused += 1;
        else outcomes.aborted += 1;
        return;
      }
      outcomes.granted += 1;
      holding += 1;
      peak = Math.max(peak, holding);
      assert.ok(holding <= concurrency, `${holding} hold a slot at once`);
      const work = Math.floor(random() * 4);
      for (let i = 0; i < work; i++) await tick();
      holding -= 1;
      release();
      if (random() < 0.3) release();
    };
    const callers: Promise<void>[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) callers.push(caller());
      await tick();
    }
    await Promise.all(callers);
    assert.deepEqual(gate.stats(), { active: 0, waiting: 0 }, 'every slot came back');
    assert.equal(peak, concurrency, 'the gate was used to the full');
    assert.ok(
      outcomes.aborted > 0 && outcomes.refused > 0 && outcomes.granted > 0,
      JSON.stringify(outcomes),
    );
    // And it still works at full width afterwards.
    const releases = await Promise.all(Array.from({ length: concurrency }, () => gate.acquire()));
    assert.deepEqual(gate.stats(), { active: concurrency, waiting: 0 });
    for (const release of releases) release();
  });

  test('refuses nonsensical limits', () => {
    assert.throws(() => concurrencyLimit({ concurrency: 0, queue: 1 }), RangeError);
    assert.throws(() => concurrencyLimit({ concurrency: 1.5, queue: 1 }), RangeError);
    assert.throws(() => concurrencyLimit({ concurrency: 1, queue: -1 }), RangeError);
  });
});
