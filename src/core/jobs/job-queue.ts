import type { Queue } from 'bullmq';
import type { z } from 'zod';
import type { JobDefinition, JobRuntime } from './define-job.ts';
import type { JobEventLog } from './job-events.ts';

export type JobState = 'queued' | 'active' | 'retrying' | 'completed' | 'failed' | 'cancelled';

/** What anyone may learn about a job over HTTP, whichever driver runs it. */
export interface JobStatus {
  id: string;
  name: string;
  state: JobState;
  progress: number;
  /** Tries made so far. */
  attempts: number;
  maxAttempts: number;
  result: unknown;
  error: string | null;
  ownerId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** Stored with every job beside its input: ids only. */
export interface JobMeta {
  ownerId?: string | undefined;
  requestId?: string | undefined;
  /** W3C trace context of the enqueueing request, so the job's spans join its trace. */
  trace?: Record<string, string> | undefined;
}

export interface JobPayload {
  input: unknown;
  meta: JobMeta;
}

export interface EnqueueOptions extends JobMeta {
  delayMs?: number;
}

export type CancelOutcome = 'cancelled' | 'started' | 'finished' | 'missing';

export interface JobWorker {
  /**
   * Stops taking jobs and lets active ones finish for up to `deadlineMs`; then aborts them.
   * An aborted job is retried later (by this process's successor or another worker).
   */
  close(deadlineMs: number): Promise<void>;
}

/** Where jobs go: BullMQ on Redis, or this process when there is no Redis. */
export interface JobQueue {
  /** False for the in-process driver: jobs die with the process. */
  readonly durable: boolean;
  readonly events: JobEventLog;
  /**
   * Validates `input` against the job's schema before anything is stored (a mistake throws
   * here, in the caller), then enqueues it.
   */
  enqueue<Input extends z.ZodType>(
    job: JobDefinition<Input>,
    input: z.input<Input>,
    options?: EnqueueOptions,
  ): Promise<{ id: string }>;
  get(id: string): Promise<JobStatus | undefined>;
  /** Cancels a job that has not started. */
  cancel(id: string): Promise<CancelOutcome>;
  /** Resolves once the queue's connection is up, or after a short wait regardless. */
  ready(): Promise<void>;
  /** BullMQ's queues, for its dashboard; none for the in-process driver. */
  dashboardQueues(): Promise<readonly Queue[]>;
  /** How many jobs each queue holds, by state, for metrics. */
  depth(): Promise<Record<string, Record<string, number>>>;
  /** Runs the given jobs in this process, handing each `deps` as its dependencies. */
  startWorker<D extends JobRuntime>(
    definitions: readonly JobDefinition<z.ZodType, unknown, D>[],
    deps: D,
  ): Promise<JobWorker>;
  close(): Promise<void>;
}
