import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7 } from '../../src/core/ids.ts';

test('UUID v7: version and variant bits, the time in front, strictly increasing', () => {
  const at = Date.UTC(2030, 0, 1);
  const ids = Array.from({ length: 10_000 }, () => uuidv7(at));
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.equal(Number.parseInt(ids[0]?.replaceAll('-', '').slice(0, 12) ?? '', 16), at);
  assert.deepEqual([...ids].sort(), ids, 'ids made in one millisecond still sort in order');
  assert.equal(new Set(ids).size, ids.length);
  const later = uuidv7(at + 1_000);
  assert.ok(later > (ids.at(-1) ?? ''));
  assert.ok(uuidv7(at - 5_000) > later, 'a clock step backwards never makes an earlier id');
});

test('UUID v7: no two ids share their random bits, across many refills of the random pool', () => {
  const base = Date.UTC(2031, 0, 1);
  // A new millisecond each time, so the sequence restarts from random bits too.
  const tails = Array.from({ length: 5_000 }, (_, index) => uuidv7(base + index * 10).slice(19));
  assert.equal(new Set(tails).size, tails.length);
});
