/**
 * Jobs that exist only for the worker fault tests, shared by the test worker process
 * (`test-worker.ts`) and the tests that enqueue them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Deps } from '../../src/core/deps.ts';
import { bullmqJobQueue } from '../../src/core/jobs/bullmq-queue.ts';
import { defineJob, type JobContext } from '../../src/core/jobs/define-job.ts';
import type { JobQueue } from '../../src/core/jobs/job-queue.ts';

/**
 * Sleeps `steps` × 100 ms, checking its signal at each step, then counts its completion
 * with an atomic `INCR done:<jobId>`: a job completed twice would show 2. Every start is
 * recorded in `runs:<jobId>` (the pid that ran it).
 */
export const slowCount = defineJob({
  name: 'test.slow-count',
  input: z.object({ steps: z.number().int().min(1).max(3_000) }),
  attempts: 3,
  concurrency: 2,
  backoff: { delayMs: 200, jitter: 0 },
  async run({ steps }, { jobId, signal, deps, progress }: JobContext<Deps>) {
    const redis = deps.redis;
    if (!redis) throw new Error('test.slow-count needs Redis');
    await redis.rpush(`runs:${jobId}`, String(process.pid));
    for (let step = 1; step <= steps; step++) {
      await sleep(100, undefined, { signal });
      if (step % 5 === 0) await progress((step / steps) * 100);
    }
    const count = await redis.incr(`done:${jobId}`);
    return { count, pid: process.pid };
  },
});

export const TEST_JOBS = [slowCount];

/** A BullMQ queue of the test jobs, on the same Redis keys as the service's own queues. */
export function testJobQueue(deps: Deps): JobQueue {
  const { settings, redis } = deps;
  if (!redis || !settings.REDIS_URL) throw new Error('the test jobs need REDIS_URL');
  return bullmqJobQueue({
    url: settings.REDIS_URL,
    prefix: `${settings.REDIS_KEY_PREFIX}bull`,
    definitions: TEST_JOBS,
    redis,
    logger: deps.logger,
    lockMs: settings.JOB_LOCK_MS,
  });
}
