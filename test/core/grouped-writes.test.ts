/**
 * `groupedWrites`: a write goes at once when none is in flight; what comes while one is goes
 * in the next write together, up to the group's bound; each caller settles with its own
 * input; a failing group is written again one input at a time, so only the bad one fails.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { groupedWrites } from '../../src/core/grouped-writes.ts';

/** A write that records its groups and finishes only when told. */
function heldWrites<In>() {
  const groups: In[][] = [];
  const pending: (() => void)[] = [];
  const write = (inputs: In[]) =>
    new Promise<void>((resolve) => {
      groups.push(inputs);
      pending.push(resolve);
    });
  const finishNext = async () => {
    pending.shift()?.();
    // Lets the finished group's callers and the next group's start run.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { groups, write, finishNext };
}

test('a lone write goes at once; what comes while it is in flight goes next, together', async () => {
  const { groups, write, finishNext } = heldWrites<number>();
  const record = groupedWrites(write);
  const settled: number[] = [];
  const first = record(1).then(() => settled.push(1));
  assert.deepEqual(groups, [[1]], 'sent before anything else happens');
  const rest = [2, 3, 4].map((n) => record(n).then(() => settled.push(n)));
  assert.deepEqual(groups, [[1]], 'the others wait for the write in flight');
  await finishNext();
  await first;
  assert.deepEqual(groups, [[1], [2, 3, 4]]);
  assert.deepEqual(settled, [1], 'no caller settles before its own input is written');
  await finishNext();
  await Promise.all(rest);
  assert.deepEqual(settled, [1, 2, 3, 4]);
});

test('a group carries at most maxGroup inputs; the concurrency bounds the writes in flight', async () => {
  const { groups, write, finishNext } = heldWrites<number>();
  const record = groupedWrites(write, { maxGroup: 2, concurrency: 2 });
  const all = Promise.all([1, 2, 3, 4, 5, 6].map((n) => record(n)));
  assert.deepEqual(groups, [[1], [2]], 'two in flight at once');
  await finishNext();
  assert.deepEqual(groups, [[1], [2], [3, 4]]);
  await finishNext();
  assert.deepEqual(groups, [[1], [2], [3, 4], [5, 6]]);
  await finishNext();
  await finishNext();
  await all;
});

test('a failing group is written again input by input: only the bad one fails', async () => {
  const groups: string[][] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const record = groupedWrites(async (inputs: string[]) => {
    groups.push(inputs);
    if (inputs[0] === 'first') await gate;
    if (inputs.includes('bad')) throw new Error(`refused: ${inputs.join(',')}`);
  });
  const first = record('first');
  const others = ['a', 'bad', 'b'].map((input) => record(input));
  release();
  const settled = await Promise.allSettled([first, ...others]);
  assert.deepEqual(
    settled.map((result) =>
      result.status === 'fulfilled' ? 'ok' : (result.reason as Error).message,
    ),
    ['ok', 'ok', 'refused: bad', 'ok'],
  );
  assert.deepEqual(groups, [['first'], ['a', 'bad', 'b'], ['a'], ['bad'], ['b']]);
});

test('a write that throws instead of rejecting fails its callers, and the next group still goes', async () => {
  let calls = 0;
  const record = groupedWrites((inputs: number[]): Promise<void> => {
    calls += 1;
    if (inputs.includes(0)) throw new Error('thrown');
    return Promise.resolve();
  });
  const settled = await Promise.allSettled([record(0), record(1), record(0)]);
  assert.deepEqual(
    settled.map((result) => result.status),
    ['rejected', 'fulfilled', 'rejected'],
  );
  await record(2);
  assert.equal(calls, 5, 'alone, the group, its two inputs again, the next');
});

describe('lingering', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  const linger = { linger: true };

  test('a lingering input with none in flight waits lingerMs for company, then goes with it', async () => {
    const { groups, write, finishNext } = heldWrites<number>();
    const record = groupedWrites(write, { lingerMs: 20 });
    const all = Promise.all([record(1, linger), record(2, linger)]);
    assert.deepEqual(groups, [], 'nothing sent while it lingers');
    mock.timers.tick(19);
    assert.deepEqual(groups, []);
    const third = record(3, linger);
    mock.timers.tick(1);
    assert.deepEqual(groups, [[1, 2, 3]], 'sent when the time is up, with what came meanwhile');
    await finishNext();
    await Promise.all([all, third]);
  });

  test('an input someone waits for goes at once, and takes the lingering ones along', async () => {
    const { groups, write, finishNext } = heldWrites<number>();
    const record = groupedWrites(write, { lingerMs: 20 });
    const lingering = record(1, linger);
    assert.deepEqual(groups, []);
    const awaited = record(2);
    assert.deepEqual(groups, [[1, 2]]);
    await finishNext();
    await Promise.all([lingering, awaited]);
  });

  test('a full group goes at once; what waits for a write in flight does not linger', async () => {
    const { groups, write, finishNext } = heldWrites<number>();
    const record = groupedWrites(write, { lingerMs: 20, maxGroup: 2 });
    const all = Promise.all([1, 2, 3].map((n) => record(n, linger)));
    assert.deepEqual(groups, [[1, 2]], 'full: sent without waiting');
    await finishNext();
    assert.deepEqual(groups, [[1, 2], [3]], 'after a write in flight, the next goes at once');
    await finishNext();
    await all;
  });
});
