import { type Job, Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Deps } from '../../deps.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';
import { uuidv7 } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { ProblemError } from '../problem.ts';
import { waitForRedis } from '../redis.ts';
import { currentTraceCarrier } from '../tracing.ts';
import { type JobDefinition, PermanentJobError } from './define-job.ts';
import type { JobEventLog, JobEventType } from './job-events.ts';
import type { JobPayload, JobQueue, JobState, JobStatus, JobWorker } from './job-queue.ts';
import { errorMessage, runJobOnce } from './run-job.ts';

export interface BullmqQueueOptions {
  url: string;
  /** Prefix of BullMQ's keys (it does not support ioredis' own `keyPrefix`). */
  prefix: string;
  /** Every job the service knows: the queues to look a job id up in. */
  definitions: readonly JobDefinition[];
  events: JobEventLog;
  /** Where cancelled jobs leave a tombstone (the API's Redis connection). */
  redis: Redis;
  logger: Logger;
  /** A worker that stops renewing its lock for this long is presumed dead. */
  lockMs: number;
}

const STATES: Record<string, JobState> = {
  waiting: 'queued',
  prioritized: 'queued',
  'waiting-children': 'queued',
  delayed: 'queued',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

function toStatus(job: Job, state: string, name: string): JobStatus {
  const payload = job.data as JobPayload;
  const mapped = STATES[state] ?? 'queued';
  const retrying = mapped === 'queued' && job.attemptsMade > 0;
  return {
    id: job.id ?? '',
    name,
    state: retrying ? 'retrying' : mapped,
    // As the in-process driver: a completed job is at 100% whatever it last reported.
    progress: mapped === 'completed' ? 100 : typeof job.progress === 'number' ? job.progress : 0,
    attempts: job.attemptsMade + (mapped === 'active' ? 1 : 0),
    maxAttempts: job.opts.attempts ?? 1,
    result: job.returnvalue ?? null,
    error: job.failedReason || null,
    ownerId: payload.meta?.ownerId ?? null,
    createdAt: new Date(job.timestamp),
    startedAt: job.processedOn ? new Date(job.processedOn) : null,
    finishedAt: job.finishedOn ? new Date(job.finishedOn) : null,
  };
}

/**
 * Durable jobs on BullMQ, one queue per job definition. The API side only produces: its
 * connection fails fast, so an enqueue during a Redis outage is a prompt 503. Workers use
 * their own connection that retries for ever, as BullMQ requires.
 */
export function bullmqJobQueue(options: BullmqQueueOptions): JobQueue {
  const { events, logger } = options;
  const producer = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  producer.on('error', () => {});
  // With no offline queue, a command sent before the connection is up fails at once: wait
  // for it briefly (start-up, or a reconnect in progress), never for long.
  const connected = async (maxWaitMs = 2_000) => {
    if (producer.status !== 'ready') await waitForRedis(producer, maxWaitMs);
  };
  const queues = new Map<string, Queue>();
  const queueFor = (name: string) => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: producer,
        prefix: options.prefix,
        skipWaitingForReady: true,
      });
      queue.on('error', () => {});
      queues.set(name, queue);
      // BullMQ reads the server's version once, as the queue is built; if the connection is
      // not up yet that fails, and the queue would fail every call for ever. Build it anew.
      const built = queue;
      built.waitUntilReady().catch(() => {
        if (queues.get(name) === built) queues.delete(name);
        built.close().catch(() => {});
      });
    }
    return queue;
  };
  const tombstone = (id: string) => `jobs:cancelled:${id}`;
  const record = async (jobId: string, type: JobEventType, data: Record<string, unknown> = {}) => {
    try {
      await events.append(jobId, type, data);
    } catch (error) {
      logger.warn({ err: error, jobId, event: type }, 'could not record a job event');
    }
  };

  async function find(id: string): Promise<{ job: Job; name: string } | undefined> {
    await connected();
    const found = await Promise.all(
      options.definitions.map(async (definition) => {
        const job = await queueFor(definition.name).getJob(id);
        return job ? { job, name: definition.name } : undefined;
      }),
    );
    return found.find((entry) => entry !== undefined);
  }

  return {
    durable: true,
    events,
    async enqueue(job, input, enqueueOptions = {}) {
      const parsed = job.input.parse(input);
      const id = uuidv7();
      const payload: JobPayload = {
        input: parsed,
        meta: {
          ownerId: enqueueOptions.ownerId,
          requestId: enqueueOptions.requestId,
          trace: currentTraceCarrier(),
        },
      };
      // Recorded first: a worker may take the job, and record `active`, as soon as it is added.
      await record(id, 'queued');
      try {
        await connected();
        await queueFor(job.name).add(job.name, payload, {
          jobId: id,
          attempts: job.attempts,
          backoff: { type: 'exponential', delay: job.backoff.delayMs, jitter: job.backoff.jitter },
          ...(enqueueOptions.delayMs ? { delay: enqueueOptions.delayMs } : {}),
          removeOnComplete: {
            count: job.retention.completed.count,
            age: job.retention.completed.ageSeconds,
          },
          removeOnFail: { count: job.retention.failed.count, age: job.retention.failed.ageSeconds },
        });
      } catch (error) {
        // Only an unreachable Redis is the caller's 503; anything else is a bug, and says so.
        if (!isDependencyUnavailable(error)) throw error;
        logger.warn({ err: error, job: job.name }, 'could not enqueue');
        throw new ProblemError(503, { detail: 'The job queue is unavailable; retry later' });
      }
      return { id };
    },
    async get(id) {
      const found = await find(id);
      if (found) {
        const state = await found.job.getState();
        // The job was read before its state: if it finished in between, read it again, or it
        // would show as completed with no result.
        const torn = (state === 'completed' || state === 'failed') && !found.job.finishedOn;
        const job = torn ? ((await queueFor(found.name).getJob(id)) ?? found.job) : found.job;
        return toStatus(job, state, found.name);
      }
      const cancelled = await options.redis.get(tombstone(id));
      if (!cancelled) return undefined;
      const stored = JSON.parse(cancelled) as Omit<JobStatus, 'createdAt' | 'finishedAt'> & {
        createdAt: string;
        finishedAt: string;
      };
      return {
        ...stored,
        createdAt: new Date(stored.createdAt),
        finishedAt: new Date(stored.finishedAt),
      };
    },
    async cancel(id) {
      const found = await find(id);
      // A cancelled job leaves only its tombstone: it is finished, as with the other driver.
      if (!found) return (await options.redis.exists(tombstone(id))) ? 'finished' : 'missing';
      const state = await found.job.getState();
      if (state === 'active') return 'started';
      if (state === 'completed' || state === 'failed') return 'finished';
      const status: JobStatus = {
        ...toStatus(found.job, state, found.name),
        state: 'cancelled',
        finishedAt: new Date(),
      };
      try {
        // Atomic in BullMQ: fails if a worker took the job meanwhile.
        await found.job.remove();
      } catch {
        return 'started';
      }
      const failed = options.definitions.find((definition) => definition.name === found.name)
        ?.retention.failed;
      await options.redis.set(
        tombstone(id),
        JSON.stringify(status),
        'EX',
        failed?.ageSeconds ?? 86_400,
      );
      await record(id, 'cancelled');
      return 'cancelled';
    },
    ready: () => connected(),
    dashboardQueues() {
      return options.definitions.map((definition) => queueFor(definition.name));
    },
    async depth() {
      // Metrics scrapes must stay quick during an outage.
      await connected(250);
      const entries = await Promise.all(
        options.definitions.map(async (definition) => {
          const counts = await queueFor(definition.name).getJobCounts(
            'waiting',
            'delayed',
            'active',
            'completed',
            'failed',
          );
          return [definition.name, counts] as const;
        }),
      );
      return Object.fromEntries(entries);
    },
    async startWorker(definitions, deps: Deps): Promise<JobWorker> {
      const connection = new Redis(options.url, { maxRetriesPerRequest: null });
      connection.on('error', () => {});
      const shutdown = new AbortController();
      const workers = definitions.map((definition) => {
        const worker = new Worker(
          definition.name,
          async (job: Job, token?: string) => {
            const jobId = job.id ?? '';
            const payload = job.data as JobPayload;
            // Not awaited: the job need not wait for its own history. Commands on one
            // connection stay in order, so `active` is still written before `completed`.
            void record(jobId, 'active', { attempt: job.attemptsMade + 1 });
            try {
              return await runJobOnce({
                definition,
                jobId,
                attempt: job.attemptsMade + 1,
                input: payload.input,
                meta: payload.meta ?? {},
                deps,
                shutdown: shutdown.signal,
                progress: async (percent) => {
                  await job.updateProgress(percent);
                  await record(jobId, 'progress', { progress: percent });
                },
              });
            } catch (error) {
              // Cut off by shutdown: the job goes back to the queue, without using up a try,
              // for another worker (or this one's successor). Should that fail, the lock
              // lapses and another worker's stalled-job check does the same.
              if (shutdown.signal.aborted) {
                await job.moveToWait(token);
                throw new WaitingError();
              }
              if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
              throw error;
            }
          },
          {
            connection,
            prefix: options.prefix,
            concurrency: definition.concurrency,
            lockDuration: options.lockMs,
            stalledInterval: options.lockMs,
            maxStalledCount: 2,
          },
        );
        worker.on('completed', (job, result) => void record(job.id ?? '', 'completed', { result }));
        worker.on('failed', (job, error) => {
          if (!job?.id) return;
          const final =
            error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
          void record(job.id, final ? 'failed' : 'retrying', {
            attempt: job.attemptsMade,
            error: errorMessage(error),
          });
        });
        worker.on('error', (error) =>
          logger.error({ err: error, job: definition.name }, 'worker error'),
        );
        return worker;
      });
      // The producer connection fails fast, and may not be up yet this early.
      if (definitions.some((definition) => definition.schedule)) {
        await waitForRedis(producer, 10_000);
      }
      for (const definition of definitions) {
        if (definition.schedule) {
          await queueFor(definition.name).upsertJobScheduler(
            definition.name,
            { pattern: definition.schedule.pattern, tz: 'UTC' },
            { name: definition.name, data: { input: {}, meta: {} } satisfies JobPayload },
          );
        }
      }
      return {
        async close(deadlineMs) {
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<'deadline'>((resolve) => {
            timer = setTimeout(() => resolve('deadline'), deadlineMs);
          });
          const finished = Promise.all(workers.map((worker) => worker.close()));
          const outcome = await Promise.race([finished, deadline]);
          clearTimeout(timer);
          if (outcome === 'deadline') {
            // Active jobs stop and go back to the queue (see above); then the workers close.
            // (`close(true)` would not help: a worker already closing ignores it.)
            shutdown.abort();
            await finished;
          }
          connection.disconnect();
        },
      };
    },
    async close() {
      await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
      producer.disconnect();
    },
  };
}
