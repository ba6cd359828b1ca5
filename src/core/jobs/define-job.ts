import type { z } from 'zod';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/** What a worker itself needs from the dependencies it hands to jobs: a log and metrics. */
export interface JobRuntime {
  logger: Logger;
  metrics: Pick<Metrics, 'jobRuns' | 'jobDuration'>;
}

/**
 * What a job's `run` receives besides its input. `D` is whatever the worker was given as
 * the jobs' dependencies (the app's `Deps`): core knows nothing of them.
 */
export interface JobContext<D = unknown> {
  jobId: string;
  /** 1 on the first try, 2 on the first retry, … */
  attempt: number;
  /** Carries the job's name and id, and the id of the request that enqueued it. */
  logger: Logger;
  /** Aborted when the job times out or the worker must stop: stop soon, and throw. */
  signal: AbortSignal;
  deps: D;
  /** Reports progress, 0 to 100; watchers of the job see each change. */
  progress(percent: number): Promise<void>;
  /** Who enqueued the job, if a user did. */
  ownerId: string | undefined;
}

export interface JobOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Retry n waits `delayMs * 2^(n-1)`, less up to `jitter` of it at random. */
  backoff: { delayMs: number; jitter: number };
  /** A try still running after this long is aborted and counts as failed. */
  timeoutMs: number;
  /** Jobs of this kind one worker process runs at once. */
  concurrency: number;
  /** How many finished jobs, and for how long, stay readable over HTTP. */
  retention: {
    completed: { count: number; ageSeconds: number };
    failed: { count: number; ageSeconds: number };
  };
  /** Enqueue on a cron schedule (UTC), e.g. `0 * * * *` for hourly. */
  schedule?: { pattern: string };
}

export interface JobDefinition<Input extends z.ZodType = z.ZodType, Result = unknown, D = unknown>
  extends JobOptions {
  /** `feature.verb`, e.g. `exports.generate`; also the queue's name. */
  name: string;
  input: Input;
  run(input: z.output<Input>, context: JobContext<D>): Promise<Result>;
}

export const DEFAULT_JOB_OPTIONS: JobOptions = {
  attempts: 3,
  backoff: { delayMs: 1_000, jitter: 0.5 },
  timeoutMs: 5 * 60_000,
  concurrency: 5,
  retention: {
    completed: { count: 1_000, ageSeconds: 24 * 3600 },
    failed: { count: 5_000, ageSeconds: 7 * 24 * 3600 },
  },
};

/**
 * Declares a durable job once: its input schema (checked when enqueued and again when run),
 * what it does, and how it retries. Input carries ids, never secrets: it is stored in Redis.
 *
 * The type of `deps` is taken from the annotation of `run`'s context.
 *
 * @example
 * export const sendWelcome = defineJob({
 *   name: 'users.welcome',
 *   input: z.object({ userId: z.uuid() }),
 *   attempts: 5,
 *   async run({ userId }, { deps, logger }: JobContext<Deps>) { ... },
 * });
 */
export function defineJob<Input extends z.ZodType, Result, D>(
  definition: {
    name: string;
    input: Input;
    run(input: z.output<Input>, context: JobContext<D>): Promise<Result>;
  } & Partial<JobOptions>,
): JobDefinition<Input, Result, D> {
  return { ...DEFAULT_JOB_OPTIONS, ...definition };
}

/** Thrown by a job to fail at once, without retrying: the input can never succeed. */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

/** The wait before retry number `retry` (1 for the first retry). */
export function backoffDelay(
  retry: number,
  backoff: JobOptions['backoff'],
  random = Math.random(),
): number {
  const full = backoff.delayMs * 2 ** (retry - 1);
  return Math.round(full * (1 - backoff.jitter * random));
}
