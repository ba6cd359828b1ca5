import { uuidv7 } from '../ids.ts';
import { currentTraceCarrier } from '../tracing.ts';
import {
  backoffDelay,
  type JobDefinition,
  type JobRuntime,
  PermanentJobError,
} from './define-job.ts';
import { memoryJobEventLog } from './job-events.ts';
import type { JobMeta, JobQueue, JobStatus, JobWorker } from './job-queue.ts';
import { errorMessage, runJobOnce } from './run-job.ts';

interface Entry {
  status: JobStatus;
  definition: JobDefinition;
  input: unknown;
  meta: JobMeta;
  timer?: NodeJS.Timeout;
}

/**
 * Jobs run inside this process, with the same validation, retries, backoff, timeouts and
 * events as on BullMQ: for development without Redis. Nothing survives a restart.
 */
export function memoryJobQueue(options: { maxFinished?: number } = {}): JobQueue {
  const maxFinished = options.maxFinished ?? 1_000;
  const entries = new Map<string, Entry>();
  const events = memoryJobEventLog();
  const waiting: string[] = [];
  let runner:
    | {
        deps: JobRuntime;
        names: Set<string>;
        accepting: boolean;
        shutdown: AbortController;
        active: Map<string, Promise<void>>;
      }
    | undefined;

  const finish = (entry: Entry) => {
    entry.status.finishedAt = new Date();
    // Keep the newest finished jobs readable, as BullMQ's retention does.
    const finished = [...entries.values()].filter((candidate) => candidate.status.finishedAt);
    for (const old of finished.slice(0, Math.max(0, finished.length - maxFinished)))
      entries.delete(old.status.id);
  };

  const activeCount = (name: string) =>
    runner
      ? [...runner.active.keys()].filter((id) => entries.get(id)?.definition.name === name).length
      : 0;

  function pump(): void {
    if (!runner?.accepting) return;
    for (let index = 0; index < waiting.length; ) {
      const id = waiting[index] ?? '';
      const entry = entries.get(id);
      if (!entry || entry.status.state === 'cancelled') {
        waiting.splice(index, 1);
        continue;
      }
      const { definition } = entry;
      if (
        !runner.names.has(definition.name) ||
        activeCount(definition.name) >= definition.concurrency
      ) {
        index += 1;
        continue;
      }
      waiting.splice(index, 1);
      const work = execute(entry).finally(() => {
        runner?.active.delete(id);
        pump();
      });
      runner.active.set(id, work);
    }
  }

  async function execute(entry: Entry): Promise<void> {
    const current = runner;
    if (!current) return;
    const { status, definition } = entry;
    status.state = 'active';
    status.attempts += 1;
    status.startedAt ??= new Date();
    await events.append(status.id, 'active', { attempt: status.attempts });
    try {
      status.result = await runJobOnce({
        definition,
        jobId: status.id,
        attempt: status.attempts,
        maxAttempts: status.maxAttempts,
        input: entry.input,
        meta: entry.meta,
        deps: current.deps,
        shutdown: current.shutdown.signal,
        progress: async (percent) => {
          status.progress = percent;
          await events.append(status.id, 'progress', { progress: percent });
        },
      });
      status.state = 'completed';
      status.progress = 100;
      finish(entry);
      await events.append(status.id, 'completed', { result: status.result });
    } catch (error) {
      status.error = errorMessage(error);
      const retry = !(error instanceof PermanentJobError) && status.attempts < status.maxAttempts;
      if (retry && !current.shutdown.signal.aborted) {
        const delayMs = backoffDelay(status.attempts, definition.backoff);
        status.state = 'retrying';
        await events.append(status.id, 'retrying', {
          attempt: status.attempts,
          error: status.error,
          delayMs,
        });
        entry.timer = setTimeout(() => {
          waiting.push(status.id);
          pump();
        }, delayMs);
      } else {
        status.state = 'failed';
        finish(entry);
        await events.append(status.id, 'failed', { error: status.error });
      }
    }
  }

  return {
    durable: false,
    events,
    async enqueue(job, input, options = {}) {
      const parsed = job.input.parse(input);
      const id = uuidv7();
      const status: JobStatus = {
        id,
        name: job.name,
        state: 'queued',
        progress: 0,
        attempts: 0,
        maxAttempts: job.attempts,
        result: null,
        error: null,
        ownerId: options.ownerId ?? null,
        createdAt: new Date(),
        startedAt: null,
        finishedAt: null,
      };
      const entry: Entry = {
        status,
        definition: job,
        input: parsed,
        meta: {
          ownerId: options.ownerId,
          requestId: options.requestId,
          trace: currentTraceCarrier(),
        },
      };
      entries.set(id, entry);
      await events.append(id, 'queued', {});
      const queue = () => {
        waiting.push(id);
        pump();
      };
      if (options.delayMs) entry.timer = setTimeout(queue, options.delayMs);
      else queue();
      return { id };
    },
    async get(id) {
      const entry = entries.get(id);
      return entry ? { ...entry.status } : undefined;
    },
    async cancel(id) {
      const entry = entries.get(id);
      if (!entry) return 'missing';
      const { state } = entry.status;
      if (state === 'active') return 'started';
      if (state === 'completed' || state === 'failed' || state === 'cancelled') return 'finished';
      clearTimeout(entry.timer);
      entry.status.state = 'cancelled';
      finish(entry);
      await events.append(id, 'cancelled', {});
      return 'cancelled';
    },
    ready: async () => {},
    dashboardQueues: async () => [],
    async depth() {
      const depths: Record<string, Record<string, number>> = {};
      for (const { definition, status } of entries.values()) {
        const states = depths[definition.name] ?? {};
        states[status.state] = (states[status.state] ?? 0) + 1;
        depths[definition.name] = states;
      }
      return depths;
    },
    async startWorker(definitions, deps): Promise<JobWorker> {
      const own = {
        deps,
        names: new Set(definitions.map((job) => job.name)),
        accepting: true,
        shutdown: new AbortController(),
        active: new Map<string, Promise<void>>(),
      };
      runner = own;
      pump();
      return {
        async close(deadlineMs) {
          // No new job starts from now; active ones get until the deadline, then are aborted.
          own.accepting = false;
          const drained = Promise.allSettled(own.active.values());
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, deadlineMs);
          });
          await Promise.race([drained, deadline]);
          clearTimeout(timer);
          own.shutdown.abort();
          await drained;
          if (runner === own) runner = undefined;
        },
      };
    },
    async close() {
      for (const entry of entries.values()) clearTimeout(entry.timer);
    },
  };
}
