/**
 * The bus over Redis: a message reaches a subscriber, and when the subscriber's connection
 * drops and comes back (what was published meanwhile is lost), every listener is told of the
 * gap, so caches drop what they hold instead of waiting out their TTL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { redisInvalidationBus } from '../../src/core/invalidation-bus.ts';
import { TEST_REDIS_URL } from '../support/deps.ts';

/** Waits until `done` holds, polling; fails after 10 s. */
async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`never: ${what}`);
    await sleep(20);
  }
}

// Its own connection name, which the subscriber inherits, so the test kills only its own.
const name = `invalidation-bus-test-${randomBytes(4).toString('hex')}`;
const redis = new Redis(TEST_REDIS_URL, { connectionName: name });
const admin = new Redis(TEST_REDIS_URL);
const bus = redisInvalidationBus(redis, `test:invalidations:${name}`, pino({ level: 'silent' }));
after(async () => {
  await bus.close();
  redis.disconnect();
  admin.disconnect();
});

describe('redisInvalidationBus', () => {
  test('a dropped subscriber connection is a gap for every listener, and delivery resumes', async () => {
    const seen: string[] = [];
    let gaps = 0;
    bus.subscribe({ message: (message) => seen.push(message), gap: () => (gaps += 1) });
    await until('the first message arrives', async () => {
      await bus.publish('before');
      return seen.includes('before');
    });
    assert.equal(gaps, 0, 'no gap while connected');

    const clients = String(await admin.client('LIST')).split('\n');
    const subscriber = clients.find(
      (line) => line.includes(` name=${name} `) && /\bsub=1\b/.test(line),
    );
    const id = subscriber && /\bid=(\d+)\b/.exec(subscriber)?.[1];
    assert.ok(id, `the bus's subscriber among:\n${clients.join('\n')}`);
    await admin.client('KILL', 'ID', id);

    await until('the gap is told', () => gaps === 1);
    await until('a message after the gap arrives', async () => {
      await bus.publish('after');
      return seen.includes('after');
    });
    assert.equal(gaps, 1);
  });
});
