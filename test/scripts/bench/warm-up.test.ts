import assert from 'node:assert/strict';
import { test } from 'node:test';
import { warmUp } from '../../../scripts/bench/wrk.ts';

/** Spells whose rates are `rates`, one after another; counts the spells run. */
function spells(rates: number[]) {
  let index = 0;
  return {
    run: async () => {
      const rate = rates[index];
      index += 1;
      if (rate === undefined) throw new Error('more spells than scripted');
      return rate;
    },
    count: () => index,
  };
}

const OPTIONS = { spellSeconds: 2, maxSeconds: 30, minSeconds: 1, rise: 0.05, settled: 2 };

test('a server still climbing is loaded until two spells in a row are no longer well above the best', async () => {
  const climbing = spells([5_000, 8_000, 10_000, 10_400, 10_300, 12_000]);
  assert.deepEqual(await warmUp(climbing.run, OPTIONS), [5_000, 8_000, 10_000, 10_400, 10_300]);
  // One slow spell is not the end of the climb (decision 126): the next one beats the best.
  const dipping = spells([6_981, 8_921, 5_572, 10_300, 10_500, 10_200, 15_000]);
  assert.deepEqual(
    await warmUp(dipping.run, OPTIONS),
    [6_981, 8_921, 5_572, 10_300, 10_500, 10_200],
  );
  // Two dips in a row end it.
  const slowing = spells([9_000, 12_000, 11_000, 11_500, 15_000]);
  assert.deepEqual(await warmUp(slowing.run, OPTIONS), [9_000, 12_000, 11_000, 11_500]);
});

test('a warm server takes three spells; one that never settles stops at the most seconds', async () => {
  assert.deepEqual(
    await warmUp(spells([10_000, 10_100, 9_900]).run, OPTIONS),
    [10_000, 10_100, 9_900],
  );
  const endless = spells(Array.from({ length: 100 }, (_, index) => 1_000 * 1.1 ** index));
  const rates = await warmUp(endless.run, OPTIONS);
  assert.equal(rates.length, 15, '30 s of 2 s spells');
  assert.equal(endless.count(), 15);
});

test('one spell at least, whatever the most seconds (the short CI run)', async () => {
  const once = spells([7_000, 9_000]);
  assert.deepEqual(await warmUp(once.run, { ...OPTIONS, spellSeconds: 1, maxSeconds: 1 }), [7_000]);
  assert.deepEqual(
    await warmUp(spells([7_000]).run, { ...OPTIONS, spellSeconds: 5, maxSeconds: 1 }),
    [7_000],
  );
});

test('flat spells before the fewest seconds do not end it (decision 134)', async () => {
  // The whole bench's full server on the item read: a fast first spell, two slow ones, and
  // the climb still to come.
  const early = spells([8_316, 7_132, 7_119, 9_500, 10_400, 10_600, 10_500, 10_300, 12_000]);
  assert.deepEqual(
    await warmUp(early.run, { ...OPTIONS, minSeconds: 10 }),
    [8_316, 7_132, 7_119, 9_500, 10_400, 10_600, 10_500],
  );
  // Settled once the fewest seconds are reached, not later.
  const warm = spells([10_000, 10_100, 9_900, 10_050, 10_000, 20_000]);
  assert.deepEqual(
    await warmUp(warm.run, { ...OPTIONS, minSeconds: 10 }),
    [10_000, 10_100, 9_900, 10_050, 10_000],
  );
  // The most seconds still win over the fewest.
  const short = spells([7_000, 7_000, 7_000]);
  assert.deepEqual(
    await warmUp(short.run, { ...OPTIONS, minSeconds: 10, maxSeconds: 4 }),
    [7_000, 7_000],
  );
});
