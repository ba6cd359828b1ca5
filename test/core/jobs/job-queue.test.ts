/**
 * One behavioural suite for both job queue drivers: the in-process one and BullMQ on Redis.
 * Whatever runs the jobs, callers see the same validation, retries, events, cancellation and
 * status.
 */

import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ZodError, z } from 'zod';
import {
  DependencyUnavailableError,
  isDependencyUnavailable,
} from '../../../src/core/dependency-errors.ts';
import type { Deps } from '../../../src/core/deps.ts';
import { bullmqJobQueue } from '../../../src/core/jobs/bullmq-queue.ts';
import { defineJob, PermanentJobError } from '../../../src/core/jobs/define-job.ts';
import { memoryJobEventLog } from '../../../src/core/jobs/job-events.ts';
import type { JobQueue, JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { memoryJobQueue } from '../../../src/core/jobs/memory-queue.ts';
import { createTestDeps, TEST_REDIS_URL, type TestDeps } from '../../support/deps.ts';
import { assertIncreasingIds, eventsUntilFinal, waitFor } from '../../support/jobs.ts';
import { closedPort } from '../../support/processes.ts';

/** When each try of each job started (`Date.now()`), by job id. */
const runs = new Map<string, number[]>();
function noteRun(jobId: string): number {
  const times = runs.get(jobId) ?? [];
  times.push(Date.now());
  runs.set(jobId, times);
  return times.length;
}

/** Releases a running `test.slow` job, by job id. */
const releases = new Map<string, () => void>();

const echo = defineJob({
  name: 'test.echo',
  input: z.object({ text: z.string().min(1) }),
  attempts: 1,
  async run({ text }, { jobId, ownerId, attempt }) {
    noteRun(jobId);
    return { text, ownerId: ownerId ?? null, attempt };
  },
});

const BACKOFF_MS = 200;

/** Fails its first `failures` tries, then succeeds. */
const flaky = defineJob({
  name: 'test.flaky',
  input: z.object({ failures: z.number().int().min(0) }),
  attempts: 4,
  backoff: { delayMs: BACKOFF_MS, jitter: 0 },
  async run({ failures }, { jobId }) {
    const tries = noteRun(jobId);
    if (tries <= failures) throw new Error(`flaky failure ${tries}`);
    return { tries };
  },
});

const permanent = defineJob({
  name: 'test.permanent',
  input: z.object({}),
  attempts: 5,
  backoff: { delayMs: BACKOFF_MS, jitter: 0 },
  async run(_input, { jobId }) {
    noteRun(jobId);
    throw new PermanentJobError('the thing is gone');
  },
});

const progressJob = defineJob({
  name: 'test.progress',
  input: z.object({}),
  attempts: 1,
  async run(_input, { jobId, progress }) {
    noteRun(jobId);
    for (const percent of [25, 50, 75]) await progress(percent);
    return { reported: 3 };
  },
});

/** Runs until the test releases it, or its signal aborts. */
const slow = defineJob({
  name: 'test.slow',
  input: z.object({}),
  attempts: 1,
  async run(_input, { jobId, signal }) {
    noteRun(jobId);
    await new Promise<void>((resolve, reject) => {
      releases.set(jobId, resolve);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    return { released: true };
  },
});

/** Ignores its signal: only the timeout can end it. */
const hangs = defineJob({
  name: 'test.hangs',
  input: z.object({}),
  attempts: 1,
  timeoutMs: 300,
  async run(_input, { jobId }) {
    noteRun(jobId);
    return new Promise<never>(() => {});
  },
});

/** Finishes a moment after it starts. */
const brief = defineJob({
  name: 'test.brief',
  input: z.object({ n: z.number().int() }),
  attempts: 1,
  async run({ n }) {
    await sleep(20);
    return { n };
  },
});

const DEFINITIONS = [echo, flaky, permanent, progressJob, slow, hangs, brief];

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

interface Driver {
  queue: JobQueue;
  /** Every Redis key the driver stored that names a job (durable drivers only). */
  storedJobKeys?: () => Promise<string[]>;
}

let deps: TestDeps;
let raw: Redis;

before(async () => {
  deps = await createTestDeps();
  raw = new Redis(TEST_REDIS_URL);
});
after(async () => {
  raw.disconnect();
  await deps.close();
});

function behavesAsAJobQueue(name: string, makeDriver: () => Driver) {
  describe(name, () => {
    let driver: Driver;
    let queue: JobQueue;
    let worker: JobWorker;

    before(async () => {
      driver = makeDriver();
      queue = driver.queue;
      worker = await queue.startWorker<Deps>(DEFINITIONS, { ...deps, jobs: queue });
    });
    after(async () => {
      for (const release of releases.values()) release();
      await worker.close(5_000);
      await queue.close();
    });

    test('enqueue validates the input before anything is stored', async () => {
      const before = (await driver.storedJobKeys?.()) ?? [];
      const ranBefore = new Set(runs.keys());
      await assert.rejects(queue.enqueue(echo, { text: '' }), ZodError);
      await assert.rejects(queue.enqueue(echo, { text: 42 } as never), ZodError);
      await assert.rejects(queue.enqueue(echo, {} as never), ZodError);
      if (driver.storedJobKeys) {
        assert.deepEqual(await driver.storedJobKeys(), before, 'no job key was written');
      }
      // Nothing was run either (a valid job queued afterwards is the only one to run).
      const { id } = await queue.enqueue(echo, { text: 'valid' });
      await eventsUntilFinal(queue.events, id);
      assert.equal(runs.get(id)?.length, 1);
      assert.deepEqual(
        [...runs.keys()].filter((jobId) => !ranBefore.has(jobId)),
        [id],
        'no other job ran',
      );
    });

    test('get() of a completed job: state, attempts, result, owner, timestamps', async () => {
      const { id } = await queue.enqueue(echo, { text: 'hello' }, { ownerId: 'owner-1' });
      const events = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['queued', 'active', 'completed'],
      );
      const status = await queue.get(id);
      assert.ok(status);
      assert.equal(status.id, id);
      assert.equal(status.name, 'test.echo');
      assert.equal(status.state, 'completed');
      assert.equal(status.progress, 100, 'a completed job is at 100%');
      assert.equal(status.attempts, 1);
      assert.equal(status.maxAttempts, 1);
      assert.deepEqual(status.result, { text: 'hello', ownerId: 'owner-1', attempt: 1 });
      assert.equal(status.error, null);
      assert.equal(status.ownerId, 'owner-1');
      assert.ok(status.createdAt instanceof Date);
      assert.ok(status.startedAt instanceof Date);
      assert.ok(status.finishedAt instanceof Date);
      assert.ok(status.createdAt.getTime() <= status.startedAt.getTime());
      assert.ok(status.startedAt.getTime() <= status.finishedAt.getTime());
      assert.deepEqual(events.at(-1)?.data, {
        result: { text: 'hello', ownerId: 'owner-1', attempt: 1 },
      });
    });

    test('get() of an unknown job is undefined; a job without owner has ownerId null', async () => {
      assert.equal(await queue.get('0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e'), undefined);
      const { id } = await queue.enqueue(echo, { text: 'anonymous' });
      await eventsUntilFinal(queue.events, id);
      assert.equal((await queue.get(id))?.ownerId, null);
    });

    test('a failing job is retried with backoff, then succeeds', async () => {
      const { id } = await queue.enqueue(flaky, { failures: 2 });
      const events = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['queued', 'active', 'retrying', 'active', 'retrying', 'active', 'completed'],
      );
      assertIncreasingIds(events);
      const retries = events.filter((event) => event.type === 'retrying');
      assert.deepEqual(
        retries.map((event) => [event.data.attempt, event.data.error]),
        [
          [1, 'flaky failure 1'],
          [2, 'flaky failure 2'],
        ],
      );
      assert.deepEqual(
        events.filter((event) => event.type === 'active').map((event) => event.data.attempt),
        [1, 2, 3],
      );
      const status = await queue.get(id);
      assert.equal(status?.state, 'completed');
      assert.equal(status?.attempts, 3);
      assert.equal(status?.maxAttempts, 4);
      assert.deepEqual(status?.result, { tries: 3 });
      // Exponential backoff: each retry waited at least its delay (a lower bound only).
      const [first = 0, second = 0, third = 0] = runs.get(id) ?? [];
      assert.equal(runs.get(id)?.length, 3);
      assert.ok(second - first >= BACKOFF_MS - 20, `first retry after ${second - first} ms`);
      assert.ok(third - second >= 2 * BACKOFF_MS - 20, `second retry after ${third - second} ms`);
    });

    test('a job failing every try ends failed after its last attempt', async () => {
      const { id } = await queue.enqueue(flaky, { failures: 99 });
      const events = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        events.map((event) => event.type),
        [
          'queued',
          ...['active', 'retrying', 'active', 'retrying', 'active', 'retrying'],
          'active',
          'failed',
        ],
      );
      assert.equal(events.at(-1)?.data.error, 'flaky failure 4');
      const status = await queue.get(id);
      assert.equal(status?.state, 'failed');
      assert.equal(status?.attempts, 4);
      assert.equal(status?.error, 'flaky failure 4');
      assert.equal(status?.result, null);
      assert.equal(runs.get(id)?.length, 4);
    });

    test('a PermanentJobError stops retries: one attempt, failed', async () => {
      const { id } = await queue.enqueue(permanent, {}, { ownerId: 'owner-2' });
      const events = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['queued', 'active', 'failed'],
      );
      assert.equal(events.at(-1)?.data.error, 'the thing is gone');
      // Longer than the backoff: a retry would have started by now.
      await sleep(3 * BACKOFF_MS);
      assert.equal(runs.get(id)?.length, 1);
      const status = await queue.get(id);
      assert.equal(status?.state, 'failed');
      assert.equal(status?.attempts, 1);
      assert.equal(status?.maxAttempts, 5);
      assert.equal(status?.error, 'the thing is gone');
      assert.equal(status?.result, null);
      assert.equal(status?.ownerId, 'owner-2');
      assert.ok(status?.finishedAt instanceof Date);
    });

    test('a try that outlives the job timeout fails with a timeout error', async () => {
      const { id } = await queue.enqueue(hangs, {});
      const events = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['queued', 'active', 'failed'],
      );
      const status = await queue.get(id);
      assert.equal(status?.state, 'failed');
      assert.match(status?.error ?? '', /longer than its 300 ms timeout/);
    });

    let progressEvents: Awaited<ReturnType<typeof eventsUntilFinal>>;
    let progressJobId: string;

    test('progress events arrive in order, then the final event', async () => {
      const { id } = await queue.enqueue(progressJob, {});
      progressJobId = id;
      progressEvents = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        progressEvents.map((event) => event.type),
        ['queued', 'active', 'progress', 'progress', 'progress', 'completed'],
      );
      assert.deepEqual(
        progressEvents.filter((event) => event.type === 'progress').map((event) => event.data),
        [{ progress: 25 }, { progress: 50 }, { progress: 75 }],
      );
      assertIncreasingIds(progressEvents);
      assert.deepEqual(progressEvents.at(-1)?.data, { result: { reported: 3 } });
      assert.equal((await queue.get(id))?.progress, 100);
    });

    test('events.after(id, lastId) resumes just after lastId', async () => {
      assert.ok(progressEvents, 'the progress test ran');
      assert.deepEqual(await queue.events.after(progressJobId, undefined), progressEvents);
      for (const [index, event] of progressEvents.entries()) {
        assert.deepEqual(
          await queue.events.after(progressJobId, event.id),
          progressEvents.slice(index + 1),
          `after event ${index} (${event.type})`,
        );
      }
      assert.deepEqual(await queue.events.after('0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e', '1'), []);
    });

    test('cancelling a queued (delayed) job: cancelled, and it never runs', async () => {
      const { id } = await queue.enqueue(
        echo,
        { text: 'never' },
        { ownerId: 'owner-3', delayMs: 1_000 },
      );
      assert.equal((await queue.get(id))?.state, 'queued');
      assert.equal(await queue.cancel(id), 'cancelled');
      const status = await queue.get(id);
      assert.equal(status?.state, 'cancelled');
      assert.equal(status?.ownerId, 'owner-3');
      assert.equal(status?.attempts, 0);
      assert.ok(status?.finishedAt instanceof Date);
      // Well past the delay: the job would have run by now.
      await sleep(2_500);
      assert.equal(runs.get(id), undefined, 'the job never ran');
      assert.deepEqual(
        (await queue.events.after(id, undefined)).map((event) => event.type),
        ['queued', 'cancelled'],
      );
      assert.equal((await queue.get(id))?.state, 'cancelled');
      assert.equal(await queue.cancel(id), 'finished', 'a cancelled job is finished');
      assert.equal(await queue.cancel('0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e'), 'missing');
    });

    test('get() never shows a finished job without its outcome', async () => {
      // Polled as fast as it answers while jobs finish: a status read half before and half
      // after the job completed would say completed with no result.
      const torn: unknown[] = [];
      for (let n = 0; n < 25; n++) {
        const { id } = await queue.enqueue(brief, { n });
        for (;;) {
          const status = await queue.get(id);
          assert.ok(status);
          if (status.state === 'completed') {
            if (
              !(status.finishedAt instanceof Date) ||
              (status.result as { n?: number })?.n !== n
            ) {
              torn.push(status);
            }
            break;
          }
          assert.ok(['queued', 'active'].includes(status.state), status.state);
          // Lets timers run: the in-process driver answers without any I/O.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      assert.deepEqual(torn, []);
    });

    test('cancelling an active job answers started; it runs on to completion', async () => {
      const { id } = await queue.enqueue(slow, {});
      await waitFor('the slow job to start', () => releases.has(id));
      assert.equal(await queue.cancel(id), 'started');
      const active = await queue.get(id);
      assert.equal(active?.state, 'active');
      assert.equal(active?.attempts, 1);
      assert.ok(active?.startedAt instanceof Date);
      assert.equal(active?.finishedAt, null);
      releases.get(id)?.();
      const events = await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['queued', 'active', 'completed'],
      );
      assert.equal((await queue.get(id))?.state, 'completed');
      assert.equal(await queue.cancel(id), 'finished');
    });
  });
}

behavesAsAJobQueue('the in-process driver', () => ({ queue: memoryJobQueue() }));

behavesAsAJobQueue('the BullMQ driver', () => {
  const prefix = `${deps.redisPrefix}bull`;
  const redis = deps.redis;
  assert.ok(redis, 'the tests run with Redis');
  return {
    queue: bullmqJobQueue({
      url: TEST_REDIS_URL,
      prefix,
      definitions: DEFINITIONS,
      eventPollMs: 50,
      redis,
      logger: deps.logger,
      lockMs: 5_000,
    }),
    async storedJobKeys() {
      const keys: string[] = [];
      for (const pattern of [`${prefix}:*`, `${deps.redisPrefix}jobs:*`]) {
        let cursor = '0';
        do {
          const [next, found] = await raw.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          keys.push(...found.filter((key) => UUID.test(key)));
        } while (cursor !== '0');
      }
      return keys.sort();
    },
  };
});

describe('the in-process event log', () => {
  test('a reader that starts waiting just before an append wakes on it', async () => {
    const log = memoryJobEventLog();
    const stop = new AbortController();
    // The append lands in the same tick as the wait begins, before any await of the reader.
    const waiting = log.wait('job-1', undefined, 60_000, stop.signal);
    await log.append('job-1', 'queued');
    const outcome = await Promise.race([waiting, sleep(10_000).then(() => 'asleep' as const)]);
    stop.abort();
    assert.notEqual(outcome, 'asleep', 'the reader missed the event and slept on');
    assert.deepEqual(outcome === 'asleep' ? [] : outcome.map((event) => event.type), ['queued']);
  });

  test('a wait with an aborted signal returns at once', async () => {
    const log = memoryJobEventLog();
    const outcome = await Promise.race([
      log.wait('job-2', undefined, 60_000, AbortSignal.abort()),
      sleep(10_000).then(() => 'asleep' as const),
    ]);
    assert.deepEqual(outcome, []);
  });
});

describe('the BullMQ driver when a try loses its lock', () => {
  test('the try is cancelled through its signal, and the worker goes on with other jobs', async () => {
    const prefix = `${deps.redisPrefix}lock`;
    const aborted = new Map<string, unknown>();
    const watched = defineJob({
      ...slow,
      name: 'test.watched',
      async run(_input, { jobId, signal }) {
        await new Promise<void>((resolve) => {
          releases.set(jobId, resolve);
          signal.addEventListener('abort', () => {
            aborted.set(jobId, signal.reason);
            resolve();
          });
        });
        return { released: true };
      },
    });
    const queue = bullmqJobQueue({
      url: TEST_REDIS_URL,
      prefix,
      definitions: [watched, echo],
      eventPollMs: 50,
      redis: deps.redis ?? assert.fail('the tests run with Redis'),
      logger: deps.logger,
      // Renewed every 500 ms: the lost lock is found within a second.
      lockMs: 1_000,
    });
    const worker = await queue.startWorker<Deps>([watched, echo], { ...deps, jobs: queue });
    try {
      const { id } = await queue.enqueue(watched, {});
      await waitFor('the try to start', () => releases.get(id));
      // What a lock lapsing under a stalled event loop or a Redis failover leaves behind.
      assert.equal(await raw.del(`${prefix}:test.watched:${id}:lock`), 1);
      const reason = await waitFor('the try to be cancelled', () => aborted.get(id));
      assert.match(String(reason), /lock was lost/);
      const other = await queue.enqueue(echo, { text: 'after' });
      const events = await eventsUntilFinal(queue.events, other.id);
      assert.equal(events.at(-1)?.type, 'completed');
    } finally {
      await worker.close(5_000);
      await queue.close();
    }
  });
});

describe('the BullMQ driver when Redis is not there yet', () => {
  test('an enqueue fails as unavailable (a 503 to a client), and works once Redis is reachable', async () => {
    // A port with nothing behind it, until a proxy to the real Redis opens there.
    const port = await closedPort();
    const redis = deps.redis;
    assert.ok(redis);
    const queue = bullmqJobQueue({
      url: `redis://127.0.0.1:${port}`,
      prefix: `${deps.redisPrefix}late`,
      definitions: DEFINITIONS,
      eventPollMs: 50,
      redis,
      logger: deps.logger,
      lockMs: 5_000,
    });
    const sockets = new Set<Socket>();
    const proxy = createServer((socket) => {
      const target = new URL(TEST_REDIS_URL);
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const end of [socket, upstream]) {
        sockets.add(end);
        end.on('error', () => {});
      }
      socket.pipe(upstream).pipe(socket);
    });
    try {
      await assert.rejects(
        queue.enqueue(echo, { text: 'too early' }),
        (error) => error instanceof DependencyUnavailableError && isDependencyUnavailable(error),
      );
      await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
      // The producer reconnects by itself; the queue built while it was down must not stay broken.
      const { id } = await waitFor(
        'an enqueue to succeed',
        async () => {
          try {
            return await queue.enqueue(echo, { text: 'in time' });
          } catch (error) {
            if (error instanceof DependencyUnavailableError) return undefined;
            throw error;
          }
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      assert.equal((await queue.get(id))?.state, 'queued');
    } finally {
      await queue.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

/** Every key under the test's prefix but BullMQ's own (`<prefix>order:…`). */
async function keysBesideBullmq(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await raw.scan(cursor, 'MATCH', `${deps.redisPrefix}*`, 'COUNT', 500);
    cursor = next;
    keys.push(...found.filter((key) => !key.startsWith(`${prefix}:`)));
  } while (cursor !== '0');
  return keys.sort();
}

describe('the BullMQ driver, events from BullMQ’s own stream', () => {
  const prefix = () => `${deps.redisPrefix}order`;
  const newQueue = () => {
    const redis = deps.redis;
    assert.ok(redis);
    return bullmqJobQueue({
      url: TEST_REDIS_URL,
      prefix: prefix(),
      definitions: DEFINITIONS,
      eventPollMs: 50,
      redis,
      logger: deps.logger,
      lockMs: 5_000,
    });
  };
  let queue: JobQueue;
  let worker: JobWorker;
  before(async () => {
    queue = newQueue();
    worker = await queue.startWorker<Deps>([echo, flaky, progressJob], { ...deps, jobs: queue });
  });
  after(async () => {
    await worker.close(5_000);
    await queue.close();
  });

  test('a job run to its end writes no key beside BullMQ’s', async () => {
    const before = await keysBesideBullmq(prefix());
    const { id } = await queue.enqueue(progressJob, {});
    const retried = await queue.enqueue(flaky, { failures: 1 });
    assert.equal((await eventsUntilFinal(queue.events, id)).at(-1)?.type, 'completed');
    assert.equal((await eventsUntilFinal(queue.events, retried.id)).at(-1)?.type, 'completed');
    // New keys only: the other suites' queues share this file's prefix, and their keys with
    // a lifetime (BullMQ's stalled-check) may expire meanwhile.
    const added = (await keysBesideBullmq(prefix())).filter((key) => !before.includes(key));
    assert.deepEqual(added, []);
  });

  test('another process reads the same events, and resumes after any of them alike', async () => {
    const { id } = await queue.enqueue(flaky, { failures: 2 });
    const events = await eventsUntilFinal(queue.events, id);
    assert.deepEqual(
      events.map((event) => [event.type, event.data.attempt]),
      [
        ['queued', undefined],
        ['active', 1],
        ['retrying', 1],
        ['active', 2],
        ['retrying', 2],
        ['active', 3],
        ['completed', undefined],
      ],
    );
    // A reader of its own, that has read nothing of this job: another replica.
    const other = newQueue();
    try {
      assert.deepEqual(await other.events.after(id, undefined), events);
      for (const [index, event] of events.entries()) {
        const fresh = newQueue();
        try {
          assert.deepEqual(
            await fresh.events.after(id, event.id),
            events.slice(index + 1),
            `after event ${index} (${event.type})`,
          );
        } finally {
          await fresh.close();
        }
      }
    } finally {
      await other.close();
    }
  });

  test('a retry without backoff: its retrying event still comes before the next active', async () => {
    const eager = defineJob({ ...flaky, name: 'test.eager', backoff: { delayMs: 0, jitter: 0 } });
    const eagerQueue = bullmqJobQueue({
      url: TEST_REDIS_URL,
      prefix: prefix(),
      definitions: [eager],
      eventPollMs: 50,
      redis: deps.redis ?? assert.fail('the tests run with Redis'),
      logger: deps.logger,
      lockMs: 5_000,
    });
    const eagerWorker = await eagerQueue.startWorker<Deps>([eager], { ...deps, jobs: eagerQueue });
    try {
      for (let n = 0; n < 5; n++) {
        const { id } = await eagerQueue.enqueue(eager, { failures: 2 });
        const events = await eventsUntilFinal(eagerQueue.events, id);
        assert.deepEqual(
          events.map((event) => event.type),
          ['queued', 'active', 'retrying', 'active', 'retrying', 'active', 'completed'],
        );
      }
    } finally {
      await eagerWorker.close(5_000);
      await eagerQueue.close();
    }
  });

  test('an enqueuing process whose clock runs ahead of Redis’s: the job’s history still starts at queued', async () => {
    const realNow = Date.now;
    // The job's creation time is taken from this clock; BullMQ's entries from Redis's.
    Date.now = () => realNow() + 5_000;
    let id: string;
    try {
      ({ id } = await queue.enqueue(echo, { text: 'early' }, { delayMs: 60_000 }));
    } finally {
      Date.now = realNow;
    }
    assert.deepEqual(
      (await queue.events.after(id, undefined)).map((event) => event.type),
      ['queued'],
    );
    assert.equal(await queue.cancel(id), 'cancelled');
  });
});
