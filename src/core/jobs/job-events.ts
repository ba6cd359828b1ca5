import { EventEmitter } from 'node:events';
import type { Redis } from '../redis.ts';

export type JobEventType =
  | 'queued'
  | 'active'
  | 'progress'
  | 'retrying'
  | 'completed'
  | 'failed'
  | 'cancelled';

export interface JobEvent {
  /** Increases along a job's events; an SSE client resumes after it with `Last-Event-ID`. */
  id: string;
  type: JobEventType;
  data: Record<string, unknown>;
}

export const FINAL_EVENTS: ReadonlySet<JobEventType> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

/**
 * Each job's history of state changes and progress, readable from any process: the worker
 * appends, the API streams it to clients.
 */
export interface JobEventLog {
  append(jobId: string, type: JobEventType, data?: Record<string, unknown>): Promise<void>;
  /** Events after `lastId` (all when absent), oldest first. */
  after(jobId: string, lastId: string | undefined): Promise<JobEvent[]>;
  /** Like `after`, but waits up to `maxWaitMs` for at least one event. */
  wait(
    jobId: string,
    lastId: string | undefined,
    maxWaitMs: number,
    signal: AbortSignal,
  ): Promise<JobEvent[]>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * One Redis stream per job (`XADD`), kept for `ttlSeconds`. Readers poll with `XRANGE`,
 * which needs no blocking connection per watcher, at the cost of `pollMs` of latency.
 */
export function redisJobEventLog(
  redis: Redis,
  options: { ttlSeconds: number; pollMs: number },
): JobEventLog {
  const key = (jobId: string) => `jobs:events:${jobId}`;
  const read = async (jobId: string, lastId: string | undefined): Promise<JobEvent[]> => {
    const entries = await redis.xrange(key(jobId), lastId ? `(${lastId}` : '-', '+', 'COUNT', 500);
    return entries.map(([id, fields]) => {
      const [, type = 'progress', , data = '{}'] = fields;
      return { id, type: type as JobEventType, data: JSON.parse(data) as Record<string, unknown> };
    });
  };
  return {
    async append(jobId, type, data = {}) {
      await redis
        // A pipeline, not a transaction: the expiry may follow the append a moment later.
        .pipeline()
        .xadd(key(jobId), 'MAXLEN', '~', 1000, '*', 'type', type, 'data', JSON.stringify(data))
        .expire(key(jobId), options.ttlSeconds)
        .exec();
    },
    after: read,
    async wait(jobId, lastId, maxWaitMs, signal) {
      const deadline = Date.now() + maxWaitMs;
      for (;;) {
        const events = await read(jobId, lastId);
        if (events.length > 0 || signal.aborted || Date.now() >= deadline) return events;
        await sleep(Math.min(options.pollMs, deadline - Date.now()), signal);
      }
    },
  };
}

/** The same in process memory, for the in-process driver; readers wake on each event. */
export function memoryJobEventLog(maxJobs = 1_000): JobEventLog {
  const logs = new Map<string, JobEvent[]>();
  const appended = new EventEmitter();
  appended.setMaxListeners(0);
  let sequence = 0;
  const read = (jobId: string, lastId: string | undefined) => {
    const events = logs.get(jobId) ?? [];
    const last = lastId === undefined ? -1 : Number(lastId);
    return events.filter((event) => Number(event.id) > last);
  };
  return {
    async append(jobId, type, data = {}) {
      let events = logs.get(jobId);
      if (!events) {
        events = [];
        logs.set(jobId, events);
        if (logs.size > maxJobs) logs.delete(logs.keys().next().value ?? '');
      }
      sequence += 1;
      events.push({ id: String(sequence), type, data });
      appended.emit(jobId);
    },
    after: async (jobId, lastId) => read(jobId, lastId),
    async wait(jobId, lastId, maxWaitMs, signal) {
      // Read and start listening in the same tick: an event appended in between would be
      // missed, and the reader would sleep for the whole `maxWaitMs`.
      const ready = read(jobId, lastId);
      if (ready.length > 0 || signal.aborted) return ready;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          appended.off(jobId, done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, maxWaitMs);
        appended.on(jobId, done);
        signal.addEventListener('abort', done, { once: true });
      });
      return read(jobId, lastId);
    },
  };
}
