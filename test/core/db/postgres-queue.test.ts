/**
 * Our stand-in for postgres.js's queue (decision 086): the same behaviour as the original,
 * and the slots it holds bounded by what is queued, however many values went through it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Queue from '../../../src/core/db/postgres-queue.ts';

test('first in, first out, through many copies down', () => {
  const queue = Queue([0, 1, 2]);
  const out: number[] = [];
  for (let next = 3; next < 1_000; next += 1) {
    queue.push(next);
    if (next % 3 !== 0) out.push(queue.shift() ?? -1);
  }
  while (queue.length > 0) out.push(queue.shift() ?? -1);
  assert.deepEqual(
    out,
    Array.from({ length: 1_000 }, (_, index) => index),
  );
});

test('remove takes a queued value out wherever it is, and answers null for one not queued', () => {
  const queue = Queue(['a', 'b', 'c', 'd']);
  assert.equal(queue.shift(), 'a');
  assert.equal(queue.remove('c'), 'c');
  assert.equal(queue.remove('c'), null);
  // Shifted already: what the pool asks when it moves a connection it has just taken.
  assert.equal(queue.remove('a'), null);
  assert.equal(queue.length, 2);
  assert.deepEqual([queue.shift(), queue.shift()], ['b', 'd']);
});

test('an empty queue shifts undefined and stays usable', () => {
  const queue = Queue<string>();
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.length, 0);
  assert.equal(queue.push('x'), 'x');
  assert.equal(queue.length, 1);
  assert.equal(queue.shift(), 'x');
  assert.equal(queue.length, 0);
});

test('a queue never empty holds slots for what is queued, not for what went through it', () => {
  // The pool's queue of open connections under any load below its size: one taken, one put
  // back, query after query, never all ten taken at once.
  const connections = Array.from({ length: 10 }, (_, index) => ({ id: index }));
  const open = Queue(connections);
  let most = 0;
  for (let query = 0; query < 100_000; query += 1) {
    const connection = open.shift();
    assert.ok(connection);
    assert.equal(open.remove(connection), null);
    open.push(connection);
    most = Math.max(most, open.held);
  }
  assert.equal(open.length, 10);
  // The original held one slot more for every query (100,010 here).
  assert.ok(most < 2 * 10 + 32, `held up to ${most} slots for 10 values`);
});
