import { LRUCache } from 'lru-cache';
import type { Redis } from '../redis.ts';
import { FINAL_EVENTS, type JobEvent, type JobEventLog } from './job-events.ts';

/** Where a job's history is: its queue's events stream, from about its creation on. */
export interface JobEventsLocation {
  /** BullMQ's events stream of the job's queue, `<prefix>:<queue>:events`. */
  stream: string;
  /** When the job was created (ms), by the clock of the process that enqueued it. */
  createdAt: number;
}

/**
 * The one entry the template adds to BullMQ's events stream: a failed try that will be
 * retried, with its error. BullMQ records the retry only as `delayed` or `waiting` (as it
 * does a job handed back at shutdown) and keeps no try's error but the last. Named apart
 * from BullMQ's own events, which a `QueueEvents` listener may also see.
 */
const RETRYING_EVENT = 'job-retrying';

/**
 * Records a failed try that will be retried, in the job's queue's events stream: written by
 * the worker before it hands the failure to BullMQ, so it precedes the next `active`. Not
 * trimmed here: BullMQ's next write trims the stream to its length.
 */
export async function recordRetrying(
  redis: Redis,
  stream: string,
  entry: { jobId: string; attempt: number; error: string },
): Promise<void> {
  await redis.xadd(
    stream,
    '*',
    'event',
    RETRYING_EVENT,
    'jobId',
    entry.jobId,
    'attempt',
    String(entry.attempt),
    'error',
    entry.error,
  );
}

export interface BullmqJobEventLogOptions {
  /** A connection without a key prefix: BullMQ's keys are named in full. */
  redis: Redis;
  /** Where the job's events are; undefined for a job BullMQ no longer holds. */
  locate(jobId: string): Promise<JobEventsLocation | undefined>;
  /** How often a waiting reader looks again. */
  pollMs: number;
}

/** Entries read per `XRANGE`. */
const PAGE = 1_000;
/**
 * How long before the job's `createdAt` reading starts. BullMQ's entries carry the Redis
 * server's time, `createdAt` the enqueuing process's: a clock ahead of Redis's by up to this
 * much still finds the job's `added` entry.
 */
const CLOCK_SKEW_MS = 10_000;
/** Jobs whose reading this process remembers (the newest followed). */
const MAX_FOLLOWED = 1_000;

/** What this process has read of one job's history so far. */
interface Followed {
  location: JobEventsLocation;
  /** The last stream entry read, of any job of the queue. */
  cursor: string | undefined;
  /** Failed tries recorded so far: the next `active` is try `retries + 1`. */
  retries: number;
  events: JobEvent[];
  /** Its final event was read: nothing after it is the job's. */
  finished: boolean;
  reading: Promise<void> | undefined;
}

/** Orders stream ids, `<ms>-<seq>`. */
function compareStreamIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

/** A value BullMQ stored as JSON (a return value, a progress). */
function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The value of `name` in a stream entry's fields (`k1, v1, k2, v2, …`). */
function field(fields: readonly string[], name: string): string | undefined {
  for (let index = 4; index < fields.length - 1; index += 2) {
    if (fields[index] === name) return fields[index + 1];
  }
  return undefined;
}

/** One of the job's entries as the event clients see, or undefined for one they never see. */
function toJobEvent(id: string, fields: readonly string[], job: Followed): JobEvent | undefined {
  switch (fields[1]) {
    case 'added':
      return { id, type: 'queued', data: {} };
    case 'active':
      return { id, type: 'active', data: { attempt: job.retries + 1 } };
    case 'progress':
      return { id, type: 'progress', data: { progress: parseJson(field(fields, 'data')) } };
    case RETRYING_EVENT: {
      const attempt = Number(field(fields, 'attempt'));
      job.retries = attempt;
      return { id, type: 'retrying', data: { attempt, error: field(fields, 'error') ?? '' } };
    }
    case 'completed':
      return { id, type: 'completed', data: { result: parseJson(field(fields, 'returnvalue')) } };
    case 'failed':
      return {
        id,
        type: 'failed',
        data: { attempt: job.retries + 1, error: field(fields, 'failedReason') ?? '' },
      };
    case 'removed': {
      // Removed before it finished: cancelled (by us, or from the dashboard). A finished
      // job removed later (retention, a clean-up) has had its final event already.
      const prev = field(fields, 'prev');
      return prev === 'completed' || prev === 'failed'
        ? undefined
        : { id, type: 'cancelled', data: {} };
    }
    default:
      // waiting, delayed, stalled, retries-exhausted…: no change a client is told of.
      return undefined;
  }
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
 * A job's events read from BullMQ's own events stream of its queue, which BullMQ writes in
 * the same scripts that change a job's state: `added`, `active`, `progress`, `completed` with
 * the return value, `failed` with the reason, `removed`; plus the template's
 * `job-retrying`. Reading starts at the job's creation time (stream ids are milliseconds)
 * and keeps the job's entries; the ids are the stream's, so `Last-Event-ID` is one sequence.
 *
 * The history holds as long as the stream does: BullMQ trims it to about
 * `streams.events.maxLen` entries per queue (10,000 by default), so a job whose entries were
 * trimmed has no history left to replay (its state still comes from the job itself).
 * Readers poll with `XRANGE` (no blocking connection per watcher); each poll reads the
 * queue's entries since the last one, of every job.
 */
export function bullmqJobEventLog(options: BullmqJobEventLogOptions): JobEventLog {
  const { redis } = options;
  // The least recently read is forgotten first.
  const followed = new LRUCache<string, Followed>({ max: MAX_FOLLOWED });

  async function follow(jobId: string): Promise<Followed | undefined> {
    const known = followed.get(jobId);
    if (known) return known;
    const location = await options.locate(jobId);
    if (!location) return undefined;
    // Another reader of the same job may have started meanwhile: share its reading.
    const job = followed.get(jobId) ?? {
      location,
      cursor: undefined,
      retries: 0,
      events: [],
      finished: false,
      reading: undefined,
    };
    followed.set(jobId, job);
    return job;
  }

  async function read(jobId: string, job: Followed): Promise<void> {
    for (;;) {
      const start =
        job.cursor === undefined
          ? String(Math.max(0, job.location.createdAt - CLOCK_SKEW_MS))
          : `(${job.cursor}`;
      const page = await redis.xrange(job.location.stream, start, '+', 'COUNT', PAGE);
      for (const [id, fields] of page) {
        job.cursor = id;
        // BullMQ's entries (and ours) name the job second: `event <name> jobId <id> …`.
        if (fields[2] !== 'jobId' || fields[3] !== jobId) continue;
        const event = toJobEvent(id, fields, job);
        if (!event) continue;
        job.events.push(event);
        if (FINAL_EVENTS.has(event.type)) {
          job.finished = true;
          return;
        }
      }
      if (page.length < PAGE) return;
    }
  }

  /** Reads what was added since the last read; concurrent readers of a job share one. */
  function catchUp(jobId: string, job: Followed): Promise<void> {
    if (job.finished) return Promise.resolve();
    job.reading ??= read(jobId, job).finally(() => {
      job.reading = undefined;
    });
    return job.reading;
  }

  async function after(jobId: string, lastId: string | undefined): Promise<JobEvent[]> {
    const job = await follow(jobId);
    if (!job) return [];
    await catchUp(jobId, job);
    return lastId === undefined
      ? [...job.events]
      : job.events.filter((event) => compareStreamIds(event.id, lastId) > 0);
  }

  return {
    after,
    async wait(jobId, lastId, maxWaitMs, signal) {
      const deadline = Date.now() + maxWaitMs;
      for (;;) {
        const events = await after(jobId, lastId);
        if (events.length > 0 || signal.aborted || Date.now() >= deadline) return events;
        await sleep(Math.min(options.pollMs, deadline - Date.now()), signal);
      }
    },
  };
}
