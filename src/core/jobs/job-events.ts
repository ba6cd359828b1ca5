import { EventEmitter } from 'node:events';

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
 * Each job's history of state changes and progress, readable from any process: the API
 * streams it to clients. Who writes it depends on the driver (BullMQ's own events stream,
 * or this process's memory).
 */
export interface JobEventLog {
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

/** The in-process log, which its driver appends to. */
export interface MemoryJobEventLog extends JobEventLog {
  append(jobId: string, type: JobEventType, data?: Record<string, unknown>): Promise<void>;
}

/** The same in process memory, for the in-process driver; readers wake on each event. */
export function memoryJobEventLog(maxJobs = 1_000): MemoryJobEventLog {
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
