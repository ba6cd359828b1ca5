/**
 * `perTurn`: the calls of one turn of the event loop run as one batch at its end, each caller
 * getting its own answer; calls of later turns make batches of their own; a failing batch
 * fails each of its callers, whether it throws or rejects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { perTurn } from '../../src/core/turn-batch.ts';

test('the calls of one turn are one batch, in order, each caller getting its own answer', async () => {
  const batches: number[][] = [];
  const double = perTurn(async (inputs: number[]) => {
    batches.push(inputs);
    return inputs.map((input) => input * 2);
  });
  // Some calls made from promise continuations: other ticks, the same turn.
  const answers = await Promise.all([
    double(1),
    Promise.resolve().then(() => double(2)),
    double(3),
    Promise.resolve()
      .then(() => undefined)
      .then(() => double(4)),
  ]);
  assert.deepEqual(answers, [2, 4, 6, 8]);
  assert.deepEqual(batches, [[1, 3, 2, 4]]);
});

test('calls of different turns are different batches', async () => {
  const batches: string[][] = [];
  const echo = perTurn(async (inputs: string[]) => {
    batches.push(inputs);
    return inputs;
  });
  const first = echo('a');
  await nextTurn();
  const second = echo('b');
  assert.deepEqual(await Promise.all([first, second]), ['a', 'b']);
  assert.deepEqual(batches, [['a'], ['b']]);
});

test('a batch that throws, rejects or answers short fails every caller of it', async () => {
  const throwing = perTurn((_inputs: number[]): Promise<number[]> => {
    throw new Error('thrown');
  });
  const rejecting = perTurn(async (_inputs: number[]): Promise<number[]> => {
    throw new Error('rejected');
  });
  const short = perTurn(async (inputs: number[]) => inputs.slice(1));
  const settled = await Promise.allSettled([
    throwing(1),
    throwing(2),
    rejecting(1),
    short(1),
    short(2),
  ]);
  assert.deepEqual(
    settled.map((result) =>
      result.status === 'fulfilled' ? result.value : (result.reason as Error).message,
    ),
    ['thrown', 'thrown', 'rejected', 2, 'A batch of 2 got 1 answers'],
  );
});

test('alone, each call is a batch of its own, sent at once', async () => {
  const batches: number[][] = [];
  const echo = perTurn(
    async (inputs: number[]) => {
      batches.push(inputs);
      return inputs;
    },
    { alone: true },
  );
  const answers = Promise.all([echo(1), echo(2)]);
  assert.deepEqual(batches, [[1], [2]], 'both sent before the turn ends');
  assert.deepEqual(await answers, [1, 2]);
});
