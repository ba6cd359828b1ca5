import { DependencyUnavailableError } from './dependency-errors.ts';

/**
 * A gate that lets at most `concurrency` callers through at once within this process; up to
 * `queue` more wait their turn in arrival order, and any beyond that are turned away at once,
 * so a slow upstream builds a bounded queue instead of an unbounded pile of requests.
 *
 * @example
 * const upstream = concurrencyLimit({ concurrency: 8, queue: 32 });
 * const release = await upstream.acquire(c.req.raw.signal); // QueueFullError: 503
 * try {
 *   return await callUpstream();
 * } finally {
 *   release();
 * }
 */
export interface ConcurrencyLimit {
  /**
   * Resolves with a release function once a slot is held: at once while fewer than
   * `concurrency` hold one, else in FIFO order. Throws `QueueFullError` when `queue` callers
   * wait already, and rejects with `signal.reason` when the signal aborts before a slot
   * comes. Calling the release function more than once frees the slot once.
   */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** Slots held now and callers waiting for one, e.g. for metrics. */
  stats(): { active: number; waiting: number };
}

export interface ConcurrencyLimitOptions {
  /** Callers that may hold a slot at once (at least 1). */
  concurrency: number;
  /** Callers that may wait for a slot (0: none wait, the rest are refused). */
  queue: number;
  /** What is limited, for `QueueFullError`'s message: `The upstream` unless told. */
  name?: string;
}

/**
 * Every slot is taken and the queue is full. A `DependencyUnavailableError`, so the app
 * answers 503 with `Retry-After`: the upstream is saturated, not the client at fault.
 */
export class QueueFullError extends DependencyUnavailableError {
  readonly concurrency: number;
  readonly queue: number;

  constructor(name: string, concurrency: number, queue: number) {
    super(
      `${name} is saturated: ${concurrency} calls are in flight and ${queue} are waiting; retry shortly`,
    );
    this.name = 'QueueFullError';
    this.concurrency = concurrency;
    this.queue = queue;
  }
}

interface Waiter {
  grant(release: () => void): void;
}

/**
 * A gate for this process alone: each process gets `concurrency` slots of its own.
 *
 * @example
 * const slots = concurrencyLimit({ concurrency: settings.AI_UPSTREAM_CONCURRENCY, queue: 32 });
 */
export function concurrencyLimit(options: ConcurrencyLimitOptions): ConcurrencyLimit {
  const { concurrency, queue } = options;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  if (!Number.isSafeInteger(queue) || queue < 0) {
    throw new RangeError(`queue must be a non-negative integer, got ${queue}`);
  }
  const name = options.name ?? 'The upstream';
  let active = 0;
  // A Set is a FIFO (it iterates in insertion order) that also removes an aborted waiter
  // from the middle in O(1).
  const waiting = new Set<Waiter>();

  const releaser = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.values().next();
      if (next.done) {
        active -= 1;
        return;
      }
      // The slot passes straight to the longest waiter, `active` unchanged: were it freed
      // first, a caller arriving before the waiter wakes could take it and jump the queue.
      waiting.delete(next.value);
      next.value.grant(releaser());
    };
  };

  return {
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (active < concurrency) {
        active += 1;
        return Promise.resolve(releaser());
      }
      if (waiting.size >= queue)
        return Promise.reject(new QueueFullError(name, concurrency, queue));
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          waiting.delete(waiter);
          reject(signal?.reason);
        };
        const waiter: Waiter = {
          grant(release) {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          },
        };
        waiting.add(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    stats: () => ({ active, waiting: waiting.size }),
  };
}
