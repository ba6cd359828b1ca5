/**
 * Every use of Redis on a Redis Cluster (REDIS_CLUSTER=true): three primaries started here
 * from the machine's redis-server, the app and a worker built on them. Queues and job events
 * (an export followed over SSE and resumed with Last-Event-ID), rate limits, the login
 * throttle, caches, revocation messages and shared flights between two processes' worth of
 * dependencies (the AI gateway's are in its own tests). The keys must land on more than one
 * node, or the cluster proved nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import type { JobWorker } from '../../src/core/jobs/job-queue.ts';
import { redisRateLimiter } from '../../src/core/rate-limit/rate-limiter.ts';
import { redisReservationLimiter } from '../../src/core/rate-limit/reservations.ts';
import { hashSlot, hashTag, keyPrefixOf } from '../../src/core/redis.ts';
import { redisSharedFlights } from '../../src/core/single-flight.ts';
import type { OwnedDeps } from '../../src/deps.ts';
import { JOBS } from '../../src/modules.ts';
import { createTestApiKey, createTestUser } from '../support/auth.ts';
import { type ClusterProcesses, twoProcessesOnCluster } from '../support/cluster-processes.ts';
import type { TestDeps } from '../support/deps.ts';
import {
  authFlow,
  type Call,
  exportJobFlow,
  idempotencyRaceFlow,
  itemsFlow,
} from '../support/flows.ts';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.ts';
import { missingToolReason } from '../support/system-tools.ts';

let cluster: TestRedisCluster | undefined;
let processes: ClusterProcesses | undefined;
let deps: TestDeps;
/** A second process's dependencies on the same cluster, prefix and database. */
let other: OwnedDeps;
let worker: JobWorker;
let call: Call;
let callOther: Call;

before(async () => {
  cluster = await startRedisCluster();
  if (!cluster) return;
  processes = await twoProcessesOnCluster(cluster, { LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' });
  ({ deps, other, call, callOther } = processes);
  worker = await other.jobs.startWorker(JOBS, other);
});

after(async () => {
  await worker?.close(1_000);
  await processes?.close();
  await cluster?.close();
});

describe('hash tags', () => {
  test('the part between the first { and the next }, when not empty, as Redis reads it', () => {
    assert.equal(hashTag('{app:bull}:exports.generate:id'), 'app:bull');
    assert.equal(hashTag('x{flight}:y'), 'flight');
    assert.equal(hashTag('app:items'), undefined);
    assert.equal(hashTag('a{b'), undefined);
    // The first { decides: an empty tag is no tag, whatever follows.
    assert.equal(hashTag('{}a{b}'), undefined);
    assert.equal(hashTag('}{a}'), 'a');
  });

  test('a prefix of a million { is read once, not once from each of them', () => {
    // `/\{[^}]+\}/` took a second for 50,000 and grows with the square.
    assert.equal(hashTag('{'.repeat(1_000_000)), undefined);
  });
});

describe('on a Redis Cluster of three primaries', () => {
  test('the slot of a key is the one the cluster computes, hash tags included', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const node = cluster.nodes()[0];
    assert.ok(node);
    for (const key of [
      'app:items',
      '{app:bull}:exports.generate:id',
      'x{flight}:y',
      '{}a',
      'a{b',
    ]) {
      assert.equal(hashSlot(key), await node.cluster('KEYSLOT', key), key);
    }
  });

  test('auth, items and idempotency: rate limits and idempotent replays hold', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const who = await authFlow(call);
    await itemsFlow(call, who);
    await idempotencyRaceFlow(callOther, who);
    const limited = await call('/v1/items', { headers: who.headers });
    assert.match(limited.headers.get('ratelimit') ?? '', /;r=\d+;/, 'counted in Redis');
    const policy = { name: 'cluster-test', limit: 3, windowSeconds: 60 };
    const outcomes = [];
    for (let hit = 0; hit < 4; hit++) {
      const limiter = hit % 2 === 0 ? deps.rateLimiter : other.rateLimiter;
      outcomes.push(await limiter.hit(policy, 'someone'));
    }
    assert.deepEqual(
      outcomes.map((outcome) => [outcome.allowed, outcome.uncounted ?? false]),
      [
        [true, false],
        [true, false],
        [true, false],
        [false, false],
      ],
      'one count across both processes, none uncounted',
    );
  });

  test('the login throttle refuses an account after its failures, from either process', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const who = await authFlow(call);
    const attempt = (through: Call) =>
      through('/v1/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          username: who.email,
          password: 'not the password',
        }).toString(),
      });
    const statuses = [];
    for (let index = 0; index < 4; index++) {
      statuses.push((await attempt(index % 2 === 0 ? call : callOther)).status);
    }
    assert.deepEqual(statuses, [400, 400, 400, 429]);
  });

  test('caches: a value cached by one process is read by the other; forgetting reaches both', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const key = `cluster-${randomBytes(4).toString('hex')}`;
    const first = await deps.cache.remember(key, 60, async () => ({ n: 1 }));
    const second = await other.cache.remember(key, 60, async () => ({ n: 2 }));
    assert.deepEqual(
      [first, second],
      [
        { value: { n: 1 }, hit: false },
        { value: { n: 1 }, hit: true },
      ],
    );
    await other.cache.forget(key);
    assert.equal((await deps.cache.remember(key, 60, async () => ({ n: 3 }))).hit, false);
  });

  test('a revoked API key is refused by the other process within a second (pub/sub)', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const owner = await createTestUser(deps);
    const apiKey = await createTestApiKey(deps, owner.user, ['items:read']);
    assert.equal((await callOther('/v1/items', { headers: apiKey.headers })).status, 200);
    const revoked = await call(`/v1/api-keys/${apiKey.id}`, {
      method: 'DELETE',
      headers: owner.headers,
    });
    assert.equal(revoked.status, 204);
    const started = performance.now();
    let status = 200;
    while (status === 200 && performance.now() - started < 1_000) {
      status = (await callOther('/v1/items', { headers: apiKey.headers })).status;
      if (status === 200) await sleep(10);
    }
    assert.equal(status, 401, 'refused by the process that did not revoke it');
  });

  test('jobs: an export runs on a worker, its events stream and resume on the other process', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const who = await authFlow(call);
    await itemsFlow(call, who);
    const events = await exportJobFlow(call, who, callOther);
    assert.ok(events.includes('active'), events.join(','));
    const depth = await deps.jobs.depth();
    assert.ok('exports.generate' in depth, 'queue depths read from the cluster');
  });

  test('shared flights: a follower on the other process reads every part the leader publishes', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    assert.ok(deps.redis && other.redis);
    const leaderSide = redisSharedFlights(deps.redis);
    const followerSide = redisSharedFlights(other.redis);
    try {
      const key = `cluster-${randomBytes(4).toString('hex')}`;
      const leader = await leaderSide.join(key, { ttlMs: 5_000 });
      const follower = await followerSide.join(key, { ttlMs: 5_000 });
      assert.equal(leader.role, 'leader');
      assert.equal(follower.role, 'follower');
      if (leader.role !== 'leader' || follower.role !== 'follower') return;
      const read = (async () => {
        const parts: string[] = [];
        for await (const part of follower.parts) parts.push(part);
        return parts;
      })();
      for (const part of ['one', 'two', 'three']) {
        await sleep(20);
        await leader.publish(part);
      }
      await leader.finish();
      assert.deepEqual(await read, ['one', 'two', 'three']);
    } finally {
      await Promise.all([leaderSide.close(), followerSide.close()]);
    }
  });

  test('scripts called with a key count share a tick with other commands on every node', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const redis = deps.redis;
    assert.ok(redis instanceof Cluster);
    const run = randomBytes(4).toString('hex');
    const prefix = keyPrefixOf(redis);
    /** One name for each primary, whose key (as `keyOf` makes it) that primary holds. */
    const onEachNode = (keyOf: (name: string) => string) => {
      const byNode = new Map<string, string>();
      for (let index = 0; byNode.size < 3; index++) {
        const node = redis.slots[hashSlot(`${prefix}${keyOf(`n${index}`)}`)]?.join(',');
        if (node && !byNode.has(node)) byNode.set(node, `n${index}`);
      }
      return [...byNode.values()];
    };
    let failures = 0;
    const onFailure = () => failures++;
    const limiter = redisRateLimiter(redis, { onError: 'deny', logger: deps.logger, onFailure });
    const reservations = redisReservationLimiter(redis, {
      onError: 'deny',
      logger: deps.logger,
      onFailure,
    });
    const policy = { name: `tick-${run}`, limit: 10, windowSeconds: 60 };
    const subjects = onEachNode((subject) => `ratelimit:${policy.name}:${subject}`);
    const windows = onEachNode((window) => `reservation:tick-${run}:${window}`);
    const plain = onEachNode((key) => `tick-${run}:${key}`);
    // The other commands go first: should the connection ever pipeline a tick's commands
    // again, a script routed by its count would join their pipeline (decisions 075, 093).
    const sameTick = <T>(scripts: () => (T | Promise<T>)[]) =>
      Promise.allSettled([
        ...plain.map((key) => redis.set(`tick-${run}:${key}`, '1')),
        ...scripts(),
      ]);
    const reserved = await sameTick(() => [
      ...subjects.map((subject) => limiter.hit(policy, subject)),
      ...windows.map((window) =>
        reservations.reserve(`tick-${run}:${window}`, 5, 10, { seconds: 60 }),
      ),
    ]);
    const adjusted = await sameTick(() =>
      windows.map((window) => reservations.adjust(`tick-${run}:${window}`, -3)),
    );
    assert.deepEqual(
      [...reserved, ...adjusted].filter((outcome) => outcome.status === 'rejected'),
      [],
    );
    assert.equal(failures, 0, 'no script failed');
    const used = await Promise.all(
      windows.map(async (window) => (await reservations.used(`tick-${run}:${window}`)).used),
    );
    assert.deepEqual(used, [2, 2, 2]);
  });

  test('the keys are spread over the nodes', async (t) => {
    if (!cluster) return t.skip(missingToolReason('redis-server'));
    const counts = await Promise.all(cluster.nodes().map((node) => node.dbsize()));
    assert.ok(
      counts.filter((count) => count > 0).length >= 2,
      `keys on more than one node: ${counts.join(', ')}`,
    );
  });
});
