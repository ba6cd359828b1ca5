/**
 * Stands in for postgres.js's own `src/queue.js` (3.4.9), the queue its pool keeps its
 * connections in (open, busy, closed, …), its pending queries in and each connection its sent
 * queries in: the same four members, in constant time. Loaded in its place by the resolve
 * hook of `src/preload.ts` and by the bundle's build (`scripts/build.ts`); postgres.js itself
 * never imports this file by this name. Decision 086.
 *
 * The original's `shift` leaves a hole where the value was and starts afresh only once the
 * queue is empty; its `remove` searches the whole array, holes included. A pool with an idle
 * connection left at every moment (any load below its size) never empties its queue of open
 * connections: that array grew by one entry a query, and every query searched it when its
 * connection moved to the busy queue. A process that had run 160,000 queries took twice as
 * long over each as a fresh one, and kept 8 bytes for each query it had ever run.
 */

/** Holes at the front (values already shifted) kept before the rest is copied down. */
const SLACK = 32;

export interface PostgresQueue<T> {
  readonly length: number;
  /**
   * Slots held: the values queued and the holes left before them, what its memory and
   * `remove` grow with: fewer than SLACK more than twice the values queued. Not in the
   * original, which postgres.js does not read.
   */
  readonly held: number;
  /** Takes `value` out wherever it is; null when it is not queued. */
  remove(value: T): T | null;
  push(value: T): T;
  /** The oldest value, taken out; undefined when the queue is empty. */
  shift(): T | undefined;
}

export default function Queue<T>(initial: readonly T[] = []): PostgresQueue<T> {
  let values: (T | undefined)[] = initial.slice();
  // Values before `head` are shifted (holes); those from it on are queued.
  let head = 0;
  return {
    get length() {
      return values.length - head;
    },
    get held() {
      return values.length;
    },
    remove(value) {
      const at = values.indexOf(value, head);
      if (at === -1) return null;
      values.splice(at, 1);
      return value;
    },
    push(value) {
      values.push(value);
      return value;
    },
    shift() {
      if (head === values.length) return undefined;
      const value = values[head];
      values[head] = undefined;
      head += 1;
      if (head === values.length) {
        values = [];
        head = 0;
      } else if (head >= SLACK && head * 2 >= values.length) {
        // Copies at most as many values as shifts since the last copy: constant time each.
        values = values.slice(head);
        head = 0;
      }
      return value;
    },
  };
}
