/**
 * Jobs throughput for `npm run bench`, in the bench process itself: a trivial job declared
 * with `defineJob` and run by the template's BullMQ driver (`bullmqJobQueue`, its event log
 * on Redis, `startWorker`), beside raw BullMQ (`Queue.addBulk` + `Worker`) with the same
 * Redis, the same job options and the same concurrency. Only processing is timed: every job
 * is enqueued first, then the worker starts, and the clock stops once the last job has run
 * and none is waiting or active.
 */

import { z } from '@hono/zod-openapi';
import { type JobsOptions, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Deps } from '../../src/core/deps.ts';
import { bullmqJobQueue } from '../../src/core/jobs/bullmq-queue.ts';
import { defineJob, type JobDefinition } from '../../src/core/jobs/define-job.ts';
import type { JobQueue } from '../../src/core/jobs/job-queue.ts';
import { parseSettings } from '../../src/core/settings.ts';
import { createDeps, type OwnedDeps } from '../../src/deps.ts';
import { fmt, log, median } from './report.ts';

export type JobsVariant = 'defineJob' | 'raw BullMQ';

export interface JobsRun {
  variant: JobsVariant;
  concurrency: number;
  round: number;
  enqueuePerSecond: number;
  jobsPerSecond: number;
}

export interface JobsBenchOptions {
  redisUrl: string;
  databaseUrl: string;
  jwtSecret: string;
  /** Every key of the bench starts with it; the caller deletes them afterwards. */
  prefix: string;
  count: number;
  rounds: number;
  concurrencies: number[];
}

const Input = z.object({ n: z.number() });

/** Counts the jobs a processor ran, and says when all of them have. */
function counter(expected: number) {
  let ran = 0;
  return {
    tick() {
      ran += 1;
    },
    get ran() {
      return ran;
    },
    expected,
  };
}
type Counter = ReturnType<typeof counter>;

/** Waits until the processor ran every job and the queue holds none waiting or active. */
async function drained(monitor: Queue, seen: Counter, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (seen.ran >= seen.expected) {
      const counts = await monitor.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      if (Object.values(counts).every((count) => count === 0)) return;
    }
    if (performance.now() > deadline) {
      const counts = await monitor.getJobCounts();
      throw new Error(
        `jobs bench: ${seen.ran} of ${seen.expected} jobs ran within ${timeoutMs} ms; counts ${JSON.stringify(counts)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** What bullmq-queue.ts's enqueue passes for a definition, so raw BullMQ does the same. */
function jobOptions(definition: JobDefinition): JobsOptions {
  return {
    attempts: definition.attempts,
    backoff: {
      type: 'exponential',
      delay: definition.backoff.delayMs,
      jitter: definition.backoff.jitter,
    },
    removeOnComplete: {
      count: definition.retention.completed.count,
      age: definition.retention.completed.ageSeconds,
    },
    removeOnFail: {
      count: definition.retention.failed.count,
      age: definition.retention.failed.ageSeconds,
    },
  };
}

interface Context {
  options: JobsBenchOptions;
  deps: OwnedDeps;
  queue: JobQueue;
  monitorConnection: Redis;
  sequence: number;
}

/** Jobs each path runs at each concurrency before the measured rounds. */
export const WARMUP_JOBS = 5_000;

const timeoutFor = (count: number) => Math.max(60_000, count * 20);

/** Enqueues `count` jobs through the template, then times its worker running them. */
async function runTemplate(context: Context, concurrency: number, count: number) {
  const { options, deps, queue } = context;
  context.sequence += 1;
  const seen = counter(count);
  const definition = defineJob({
    name: `bench.echo.${context.sequence}`,
    input: Input,
    concurrency,
    async run({ n }) {
      seen.tick();
      return n;
    },
  });
  const enqueueStart = performance.now();
  for (let from = 0; from < count; from += 100) {
    const batch = Array.from({ length: Math.min(100, count - from) }, (_, i) => from + i);
    await Promise.all(batch.map((n) => queue.enqueue(definition, { n })));
  }
  const enqueueMs = performance.now() - enqueueStart;
  const monitor = new Queue(definition.name, {
    connection: context.monitorConnection,
    prefix: `${options.prefix}bull`,
  });
  const started = performance.now();
  const worker = await queue.startWorker<Deps>([definition as JobDefinition], {
    ...deps,
    jobs: queue,
  });
  await drained(monitor, seen, timeoutFor(count));
  const processMs = performance.now() - started;
  await worker.close(5_000);
  await monitor.close();
  return { enqueueMs, processMs };
}

/** The same with raw BullMQ: addBulk, and a Worker whose processor returns `n`. */
async function runRaw(context: Context, concurrency: number, count: number) {
  const { options } = context;
  context.sequence += 1;
  const name = `raw.echo.${context.sequence}`;
  const prefix = `${options.prefix}raw`;
  const seen = counter(count);
  const opts = jobOptions(
    defineJob({ name, input: Input, run: async ({ n }) => n }) as JobDefinition,
  );
  const producer = new Redis(options.redisUrl);
  const queue = new Queue(name, { connection: producer, prefix });
  const enqueueStart = performance.now();
  for (let from = 0; from < count; from += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, count - from) }, (_, i) => from + i);
    await queue.addBulk(batch.map((n) => ({ name, data: { n }, opts })));
  }
  const enqueueMs = performance.now() - enqueueStart;
  const monitor = new Queue(name, { connection: context.monitorConnection, prefix });
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const started = performance.now();
  const worker = new Worker(
    name,
    async (job) => {
      seen.tick();
      return (job.data as { n: number }).n;
    },
    { connection, prefix, concurrency },
  );
  worker.on('error', () => {});
  await drained(monitor, seen, timeoutFor(count));
  const processMs = performance.now() - started;
  await worker.close();
  await Promise.all([monitor.close(), queue.close()]);
  connection.disconnect();
  producer.disconnect();
  return { enqueueMs, processMs };
}

export async function benchJobs(options: JobsBenchOptions): Promise<JobsRun[]> {
  const settings = parseSettings({
    NODE_ENV: 'production',
    JWT_SECRET: options.jwtSecret,
    DATABASE_URL: options.databaseUrl,
    DATABASE_POOL_MAX: '2',
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.prefix,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    MIGRATE_ON_START: 'false',
  });
  const deps = await createDeps(settings);
  // Built as src/deps.ts builds `deps.jobs`, which knows only the service's own jobs.
  const queue = bullmqJobQueue({
    url: options.redisUrl,
    prefix: `${options.prefix}bull`,
    definitions: [],
    redis: deps.redis as Redis,
    logger: deps.logger,
    lockMs: settings.JOB_LOCK_MS,
  });
  await queue.ready();
  const context: Context = {
    options,
    deps,
    queue,
    monitorConnection: new Redis(options.redisUrl),
    sequence: 0,
  };
  const runs: JobsRun[] = [];
  try {
    // Warm-up: each path at each concurrency, unmeasured, long enough for V8 to have
    // optimised it, so both are measured at the steady state a long-lived worker runs at.
    // After 500 jobs at one concurrency only, the template's own code (the input check,
    // runJobOnce) was still warming up: 77% of raw BullMQ at concurrency 1 where the same
    // code ran at 92% once both had run 5,000 jobs at each (one sitting, three rounds each).
    for (const concurrency of options.concurrencies) {
      await runTemplate(context, concurrency, WARMUP_JOBS);
      await runRaw(context, concurrency, WARMUP_JOBS);
    }
    for (const concurrency of options.concurrencies) {
      for (let round = 0; round < options.rounds; round++) {
        const order: JobsVariant[] =
          round % 2 === 0 ? ['defineJob', 'raw BullMQ'] : ['raw BullMQ', 'defineJob'];
        for (const variant of order) {
          const { enqueueMs, processMs } =
            variant === 'defineJob'
              ? await runTemplate(context, concurrency, options.count)
              : await runRaw(context, concurrency, options.count);
          const run: JobsRun = {
            variant,
            concurrency,
            round: round + 1,
            enqueuePerSecond: (options.count * 1_000) / enqueueMs,
            jobsPerSecond: (options.count * 1_000) / processMs,
          };
          runs.push(run);
          log(
            `jobs c=${concurrency} ${variant} round ${round + 1}: ${fmt.int(run.jobsPerSecond)} jobs/s (enqueued at ${fmt.int(run.enqueuePerSecond)}/s)`,
          );
        }
      }
    }
  } finally {
    await queue.close();
    context.monitorConnection.disconnect();
    await deps.close();
  }
  return runs;
}

/** Per concurrency: the medians of both variants and their ratio. */
export function summarizeJobs(runs: JobsRun[]) {
  const concurrencies = [...new Set(runs.map((run) => run.concurrency))];
  return concurrencies.map((concurrency) => {
    const of = (variant: JobsVariant) =>
      runs.filter((run) => run.concurrency === concurrency && run.variant === variant);
    const template = of('defineJob');
    const raw = of('raw BullMQ');
    const templateRate = median(template.map((run) => run.jobsPerSecond));
    const rawRate = median(raw.map((run) => run.jobsPerSecond));
    return { concurrency, template, raw, templateRate, rawRate, ratio: templateRate / rawRate };
  });
}
