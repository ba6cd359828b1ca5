import type { Job, Queue } from 'bullmq';
import { DependencyUnavailableError, isDependencyUnavailable } from '../dependency-errors.ts';
import { uuidv7 } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { connectRedis, hashTag, type Redis, waitForRedis } from '../redis.ts';
import { currentTraceCarrier } from '../tracing.ts';
import { bullmqJobEventLog, type JobEventsLocation, recordRetrying } from './bullmq-events.ts';
import { type JobDefinition, PermanentJobError } from './define-job.ts';
import type { JobPayload, JobQueue, JobState, JobStatus, JobWorker } from './job-queue.ts';
import { errorMessage, runJobOnce } from './run-job.ts';

export interface BullmqQueueOptions {
  url: string;
  /** `url` is a node of a Redis Cluster: `prefix` must then hold a hash tag (`{app:bull}`). */
  cluster?: boolean | undefined;
  /**
   * Prefix of BullMQ's keys (it does not support ioredis' own `keyPrefix`). BullMQ's scripts
   * touch many keys of a queue at once, so on a cluster it must be a hash tag, `{app:bull}`,
   * which puts every queue in one slot (see `bullmqPrefix`).
   */
  prefix: string;
  /** Every job the service knows: the queues to look a job id up in. */
  definitions: readonly JobDefinition[];
  /** How often a reader of a job's events looks for new ones (250 ms by default). */
  eventPollMs?: number | undefined;
  /** Where cancelled jobs leave a tombstone (the API's Redis connection). */
  redis: Redis;
  logger: Logger;
  /** A worker that stops renewing its lock for this long is presumed dead. */
  lockMs: number;
}

// Loaded on first use: an API process that enqueues nothing (most of its requests) spares
// BullMQ's modules, and their memory, for its whole life.
let bullmq: Promise<typeof import('bullmq')> | undefined;
const loadBullmq = () => {
  bullmq ??= import('bullmq');
  return bullmq;
};

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
 * The prefix of BullMQ's keys under the service's `keyPrefix`: `app:bull`, or on a Redis
 * Cluster `{app:bull}`, a hash tag, since BullMQ's scripts touch many keys of a queue in one
 * call and a cluster runs a script only on keys of one slot. (Not braced on one server, so an
 * upgrade finds the jobs already queued under the old name.)
 *
 * @example
 * bullmqPrefix('app:', true); // '{app:bull}'
 */
export function bullmqPrefix(keyPrefix: string, cluster: boolean): string {
  return cluster ? `{${keyPrefix}bull}` : `${keyPrefix}bull`;
}

/**
 * Durable jobs on BullMQ, one queue per job definition. The API side only produces: its
 * connection fails fast, so an enqueue during a Redis outage is a prompt 503. Workers use
 * their own connection that retries for ever, as BullMQ requires.
 */
export function bullmqJobQueue(options: BullmqQueueOptions): JobQueue {
  const { logger } = options;
  if (options.cluster && hashTag(options.prefix) === undefined) {
    throw new Error(`on a Redis Cluster, BullMQ's prefix needs a hash tag: ${options.prefix}`);
  }
  const server = { url: options.url, cluster: options.cluster };
  const producer = connectRedis(server, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
  });
  // With no offline queue, a command sent before the connection is up fails at once: wait
  // for it briefly (start-up, or a reconnect in progress), never for long.
  const connected = async (maxWaitMs = 2_000) => {
    if (producer.status !== 'ready') await waitForRedis(producer, maxWaitMs);
  };
  const queues = new Map<string, Queue>();
  const queueFor = async (name: string): Promise<Queue> => {
    const existing = queues.get(name);
    if (existing) return existing;
    const { Queue } = await loadBullmq();
    // Another call may have built it while BullMQ loaded.
    const raced = queues.get(name);
    if (raced) return raced;
    const queue = new Queue(name, {
      connection: producer,
      prefix: options.prefix,
      skipWaitingForReady: true,
    });
    queue.on('error', () => {});
    queues.set(name, queue);
    // BullMQ reads the server's version once, as the queue is built; if the connection is
    // not up yet that fails, and the queue would fail every call for ever. Build it anew.
    queue.waitUntilReady().catch(() => {
      if (queues.get(name) === queue) queues.delete(name);
      queue.close().catch(() => {});
    });
    return queue;
  };
  const tombstone = (id: string) => `jobs:cancelled:${id}`;
  const readTombstone = async (id: string): Promise<JobStatus | undefined> => {
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
  };

  /** The job's queue's events stream and creation time: one round trip for every queue. */
  async function locate(id: string): Promise<JobEventsLocation | undefined> {
    await connected();
    const all = await Promise.all(
      options.definitions.map((definition) => queueFor(definition.name)),
    );
    const lookup = producer.pipeline();
    for (const queue of all) lookup.hget(queue.toKey(id), 'timestamp');
    const replies = (await lookup.exec()) ?? [];
    for (const [index, [error, timestamp]] of replies.entries()) {
      const queue = all[index];
      if (!error && typeof timestamp === 'string' && queue) {
        return { stream: queue.toKey('events'), createdAt: Number(timestamp) };
      }
    }
    // Cancelled: BullMQ has removed the job, but not its entries.
    const cancelled = await readTombstone(id);
    return cancelled
      ? {
          stream: (await queueFor(cancelled.name)).toKey('events'),
          createdAt: cancelled.createdAt.getTime(),
        }
      : undefined;
  }
  const events = bullmqJobEventLog({
    redis: producer,
    locate,
    pollMs: options.eventPollMs ?? 250,
  });

  async function find(id: string): Promise<{ job: Job; name: string } | undefined> {
    await connected();
    const found = await Promise.all(
      options.definitions.map(async (definition) => {
        const job = await (await queueFor(definition.name)).getJob(id);
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
      try {
        await connected();
        const queue = await queueFor(job.name);
        await queue.add(job.name, payload, {
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
        throw new DependencyUnavailableError('The job queue is unavailable; retry later', {
          cause: error,
        });
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
        const job = torn
          ? ((await (await queueFor(found.name)).getJob(id)) ?? found.job)
          : found.job;
        return toStatus(job, state, found.name);
      }
      return readTombstone(id);
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
      // BullMQ's `removed` entry is the job's `cancelled` event.
      return 'cancelled';
    },
    ready: () => connected(),
    dashboardQueues() {
      return Promise.all(options.definitions.map((definition) => queueFor(definition.name)));
    },
    async depth() {
      // Metrics scrapes must stay quick during an outage.
      await connected(250);
      const entries = await Promise.all(
        options.definitions.map(async (definition) => {
          const queue = await queueFor(definition.name);
          const counts = await queue.getJobCounts(
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
    async startWorker(definitions, deps): Promise<JobWorker> {
      const { UnrecoverableError, WaitingError, Worker } = await loadBullmq();
      const connection = connectRedis(server, {
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        connectTimeout: 10_000,
      });
      const shutdown = new AbortController();
      const workers = definitions.map((definition) => {
        const worker = new Worker(
          definition.name,
          async (job: Job, token?: string, cancelled?: AbortSignal) => {
            const jobId = job.id ?? '';
            const payload = job.data as JobPayload;
            const attempt = job.attemptsMade + 1;
            const maxAttempts = job.opts.attempts ?? 1;
            // Nothing recorded beside BullMQ: its own events stream says the job is active,
            // its progress and how it ended (see bullmq-events.ts).
            try {
              return await runJobOnce({
                definition,
                jobId,
                attempt,
                maxAttempts,
                input: payload.input,
                meta: payload.meta ?? {},
                deps,
                shutdown: shutdown.signal,
                cancelled,
                progress: async (percent) => {
                  await job.updateProgress(percent);
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
              // Its lock is gone, and with it the job: whoever holds it now decides its fate.
              if (cancelled?.aborted) throw error;
              if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
              // BullMQ retries the job, as it would decide from the same figures; recorded
              // before BullMQ moves it, so the entry precedes the retry's `active`.
              if (attempt < maxAttempts) {
                await recordRetrying(connection, worker.toKey('events'), {
                  jobId,
                  attempt,
                  error: errorMessage(error),
                }).catch((failure: unknown) =>
                  logger.warn({ err: failure, jobId }, 'could not record a retried try'),
                );
              }
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
        worker.on('error', (error) =>
          logger.error({ err: error, job: definition.name }, 'worker error'),
        );
        // A try whose lock could not be renewed stops: the stalled-job check may already have
        // handed the job to another try, and two tries of one job must not run side by side.
        worker.on('lockRenewalFailed', (jobIds) => {
          for (const jobId of jobIds) {
            logger.warn({ job: definition.name, jobId }, 'job lock lost: its try is cancelled');
            worker.cancelJob(jobId, 'its lock was lost');
          }
        });
        return worker;
      });
      // The producer connection fails fast, and may not be up yet this early.
      if (definitions.some((definition) => definition.schedule)) {
        await waitForRedis(producer, 10_000);
      }
      for (const definition of definitions) {
        if (definition.schedule) {
          await (await queueFor(definition.name)).upsertJobScheduler(
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
