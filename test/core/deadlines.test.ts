/**
 * One timer for the deadlines of work started under one limit (decision 128): each expires
 * once its limit has passed unless settled first, in the order they started; settled ones are
 * let go, however long one piece of work ahead of them takes; and the timer holds no process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadlines } from '../../src/core/deadlines.ts';

test('each deadline expires once its limit has passed, in the order they started', async () => {
  const deadlines = new Deadlines(40);
  const expired: string[] = [];
  const startedAt = performance.now();
  const at: Record<string, number> = {};
  const note = (name: string) => () => {
    expired.push(name);
    at[name] = performance.now() - startedAt;
  };
  deadlines.start(note('first'));
  const settled = deadlines.start(note('settled'));
  await sleep(15);
  deadlines.start(note('later'));
  deadlines.settle(settled);
  await sleep(80);
  assert.deepEqual(expired, ['first', 'later']);
  assert.ok((at.first ?? 0) >= 39, `first expired after ${at.first} ms`);
  assert.ok((at.later ?? 0) >= 54, `later expired after ${at.later} ms`);
  assert.equal(deadlines.held, 0);
});

test('settled, a deadline never expires; settling twice, or after it expired, does nothing', async () => {
  const deadlines = new Deadlines(20);
  let calls = 0;
  const settled = deadlines.start(() => calls++);
  deadlines.settle(settled);
  deadlines.settle(settled);
  const expiring = deadlines.start(() => calls++);
  await sleep(60);
  assert.equal(calls, 1);
  deadlines.settle(expiring);
  assert.equal(calls, 1);
  assert.equal(deadlines.held, 0);
});

test('a deadline started after the rest settled waits for its own limit', async () => {
  const deadlines = new Deadlines(30);
  const expired: number[] = [];
  deadlines.settle(deadlines.start(() => expired.push(0)));
  await sleep(20);
  const startedAt = performance.now();
  deadlines.start(() => expired.push(performance.now() - startedAt));
  await sleep(15);
  // The timer armed for the first comes now, finds the second not due, and waits again.
  assert.deepEqual(expired, []);
  await sleep(40);
  assert.equal(expired.length, 1);
  assert.ok((expired[0] ?? 0) >= 29, `expired after ${expired[0]} ms`);
});

test('what an expiry starts or settles is taken as it comes', async () => {
  const deadlines = new Deadlines(20);
  const expired: string[] = [];
  // Due together: the first's expiry settles the second before its turn, and starts a third.
  deadlines.start(() => {
    expired.push('first');
    deadlines.settle(second);
    deadlines.start(() => expired.push('third'));
  });
  const second = deadlines.start(() => expired.push('second'));
  await sleep(35);
  assert.deepEqual(expired, ['first']);
  await sleep(40);
  assert.deepEqual(expired, ['first', 'third']);
  assert.equal(deadlines.held, 0);
});

test('settled deadlines are let go behind one that lasts', () => {
  const deadlines = new Deadlines(60_000);
  const long = deadlines.start(() => {});
  let most = 0;
  for (let index = 0; index < 100_000; index++) {
    deadlines.settle(deadlines.start(() => {}));
    most = Math.max(most, deadlines.held);
  }
  // Two a live one and the slack at most, not the 100,001 started.
  assert.ok(most <= 2 + 1_024 + 1, `held ${most}`);
  deadlines.settle(long);
  assert.equal(deadlines.held, 0);
});

test('its timer keeps no process alive', () => {
  const script = `
    import { Deadlines } from './src/core/deadlines.ts';
    new Deadlines(60_000).start(() => console.log('expired'));
    console.log('started');
  `;
  const run = spawnSync(
    process.execPath,
    ['--import', './src/preload.ts', '--input-type=module', '--eval', script],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(run.signal, null, 'the process ended by itself');
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'started');
});
