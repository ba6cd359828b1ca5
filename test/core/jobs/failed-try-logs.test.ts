/**
 * Every failed try of a job is logged, by both drivers: a warning while it will be retried,
 * an error on its last try or when it failed for good, with the job's name, id, attempt,
 * maximum attempts and error, and never its input.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { Deps } from '../../../src/core/deps.ts';
import { bullmqJobQueue } from '../../../src/core/jobs/bullmq-queue.ts';
import { defineJob, PermanentJobError } from '../../../src/core/jobs/define-job.ts';
import type { JobQueue, JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { memoryJobQueue } from '../../../src/core/jobs/memory-queue.ts';
import {
  type CapturedLogs,
  captureLogs,
  createTestDeps,
  TEST_REDIS_URL,
  type TestDeps,
} from '../../support/deps.ts';
import { eventsUntilFinal } from '../../support/jobs.ts';

/** In every job's input: it must never reach a log line. */
const SECRET = 'input-that-must-not-be-logged';
const WARN = 40;
const ERROR = 50;

const tries = new Map<string, number>();

/** Fails its first `failures` tries, then succeeds. */
const flaky = defineJob({
  name: 'test.logs.flaky',
  input: z.object({ failures: z.number().int(), note: z.string() }),
  attempts: 4,
  backoff: { delayMs: 50, jitter: 0 },
  async run({ failures }, { jobId }) {
    const attempt = (tries.get(jobId) ?? 0) + 1;
    tries.set(jobId, attempt);
    if (attempt <= failures) throw new Error(`flaky failure ${attempt}`);
    return { attempt };
  },
});

const permanent = defineJob({
  name: 'test.logs.permanent',
  input: z.object({ note: z.string() }),
  attempts: 5,
  async run() {
    throw new PermanentJobError('the thing is gone');
  },
});

const DEFINITIONS = [flaky, permanent];

let deps: TestDeps;

before(async () => {
  deps = await createTestDeps();
});
after(() => deps.close());

/** The failed-try lines of one job, in order. */
function failedTries(logs: CapturedLogs, jobId: string) {
  return logs
    .records()
    .filter((line) => line.jobId === jobId && (line.level === WARN || line.level === ERROR));
}

/** The `err` of a log line, as the logger's error serializer wrote it. */
function errOf(line: Record<string, unknown> | undefined): Record<string, unknown> {
  const err = line?.err;
  assert.ok(typeof err === 'object' && err !== null, 'the line carries the error');
  return Object.fromEntries(Object.entries(err));
}

function logsFailedTries(name: string, makeQueue: () => JobQueue) {
  describe(name, () => {
    let queue: JobQueue;
    let worker: JobWorker;
    let logs: CapturedLogs;

    before(async () => {
      queue = makeQueue();
      logs = await captureLogs();
      worker = await queue.startWorker<Deps>(DEFINITIONS, {
        ...deps,
        logger: logs.logger,
        jobs: queue,
      });
    });
    after(async () => {
      await worker.close(5_000);
      await queue.close();
    });

    test('a retried try is a warning; the try that succeeds logs no failure', async () => {
      const { id } = await queue.enqueue(flaky, { failures: 2, note: SECRET });
      await eventsUntilFinal(queue.events, id);
      const lines = failedTries(logs, id);
      assert.deepEqual(
        lines.map((line) => [line.level, line.job, line.attempt, line.maxAttempts]),
        [
          [WARN, 'test.logs.flaky', 1, 4],
          [WARN, 'test.logs.flaky', 2, 4],
        ],
        logs.text(),
      );
      const [first] = lines;
      const err = errOf(first);
      assert.deepEqual([err.type, err.message], ['Error', 'flaky failure 1']);
      assert.match(String(first?.msg), /retr/);
      assert.ok(!logs.text().includes(SECRET), 'the input is never logged');
    });

    test('the last try is an error', async () => {
      const { id } = await queue.enqueue(flaky, { failures: 99, note: SECRET });
      await eventsUntilFinal(queue.events, id);
      assert.deepEqual(
        failedTries(logs, id).map((line) => [line.level, line.attempt, line.maxAttempts]),
        [
          [WARN, 1, 4],
          [WARN, 2, 4],
          [WARN, 3, 4],
          [ERROR, 4, 4],
        ],
        logs.text(),
      );
      assert.ok(!logs.text().includes(SECRET), 'the input is never logged');
    });

    test('a permanent failure is an error on its first try', async () => {
      const { id } = await queue.enqueue(permanent, { note: SECRET });
      await eventsUntilFinal(queue.events, id);
      const lines = failedTries(logs, id);
      assert.deepEqual(
        lines.map((line) => [line.level, line.job, line.attempt, line.maxAttempts]),
        [[ERROR, 'test.logs.permanent', 1, 5]],
        logs.text(),
      );
      const err = errOf(lines[0]);
      assert.equal(err.type, 'PermanentJobError');
      assert.equal(err.message, 'the thing is gone');
      assert.ok(err.stack, 'serialized by the logger: with its stack');
      assert.ok(!logs.text().includes(SECRET), 'the input is never logged');
    });
  });
}

logsFailedTries('the in-process driver', () => memoryJobQueue());

logsFailedTries('the BullMQ driver', () => {
  const redis = deps.redis;
  assert.ok(redis, 'the tests run with Redis');
  return bullmqJobQueue({
    url: TEST_REDIS_URL,
    prefix: `${deps.redisPrefix}bull`,
    definitions: DEFINITIONS,
    eventPollMs: 50,
    redis,
    logger: deps.logger,
    lockMs: 5_000,
  });
});
