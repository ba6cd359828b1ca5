import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decoyHash, hashPassword, verifyPassword } from '../../../src/core/security/passwords.ts';

/**
 * Counts event-loop turns while `work` runs. Work done on the loop itself (a synchronous
 * hash) lets no turn happen; work on the thread pool lets thousands happen.
 */
async function loopTurnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let running = true;
  const spin = () => {
    turns += 1;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  await work();
  running = false;
  return turns;
}

describe('passwords', () => {
  test('hashes with argon2id into a PHC string, and verifies', async () => {
    const hash = await hashPassword('correct horse battery staple');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    assert.equal(await verifyPassword('correct horse battery staple', hash), true);
    assert.equal(await verifyPassword('correct horse battery stapler', hash), false);
    assert.notEqual(await hashPassword('correct horse battery staple'), hash, 'salted');
  });

  test('a malformed stored hash verifies as false, not an error', async () => {
    assert.equal(await verifyPassword('x', 'not a hash'), false);
    assert.equal(await verifyPassword('x', '$argon2id$v=19$m=1,t=1,p=1$$'), false);
  });

  test('the decoy hash is a real hash nobody can match', async () => {
    assert.equal(await verifyPassword('', await decoyHash()), false);
  });

  test('hashing and verifying run off the event loop, even several at once', async () => {
    const hash = await hashPassword('warm-up');
    assert.ok((await loopTurnsDuring(() => hashPassword('one'))) > 10);
    assert.ok((await loopTurnsDuring(() => verifyPassword('one', hash))) > 10);
    const turns = await loopTurnsDuring(() =>
      Promise.all([1, 2, 3, 4].map((n) => hashPassword(`p${n}`))),
    );
    assert.ok(turns > 40, `only ${turns} event-loop turns during four hashes`);
  });
});
