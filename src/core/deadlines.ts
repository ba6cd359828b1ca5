/** One piece of work's deadline (`Deadlines.start`), until it is settled or it expires. */
export class Deadline {
  readonly at: number;
  /** What the deadline's passing calls; undefined once settled or expired. */
  expire: (() => void) | undefined;

  constructor(at: number, expire: () => void) {
    this.at = at;
    this.expire = expire;
  }
}

/**
 * A timer that keeps no process alive: it outlives the work it watches (a deadline settled
 * is only marked), and the work itself holds the process while it runs.
 */
function waitFor(due: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(due, ms).unref();
}

/** Settled deadlines left in front of the first live one before the list is copied down. */
const SLACK = 1_024;

/**
 * The deadlines of work started one after another under one limit (each request's timeout
 * under one operation's limit), behind one timer: a `setTimeout` and its `clearTimeout` a
 * request cost 0.7 µs against 0.1 µs here (decision 128), as Node arms each one with its own
 * object, list entry and async context. Started in order under one limit, they fall due in
 * the order they started: the timer waits for the first one still live, and a deadline
 * settled before that is only marked (`settle`). Settled ones are dropped from the front as
 * the work ahead of them settles, and all at once when they outnumber the live ones, so what
 * is held stays within twice the work in flight and `SLACK`, however long one piece takes.
 */
export class Deadlines {
  readonly #limitMs: number;
  readonly #now: () => number;
  /** Oldest first; those before `#head` are gone, their slots emptied. */
  #entries: (Deadline | undefined)[] = [];
  #head = 0;
  #live = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(limitMs: number, now: () => number = () => performance.now()) {
    this.#limitMs = limitMs;
    this.#now = now;
  }

  /** Deadlines held: the live ones and the settled ones not dropped yet. */
  get held(): number {
    return this.#entries.length - this.#head;
  }

  /** Calls `expire` once the limit has passed from now, unless `settle` comes first. */
  start(expire: () => void): Deadline {
    const deadline = new Deadline(this.#now() + this.#limitMs, expire);
    this.#entries.push(deadline);
    this.#live++;
    this.#timer ??= waitFor(this.#due, this.#limitMs);
    return deadline;
  }

  /** Its work is done: the deadline will not expire. Settling it again does nothing. */
  settle(deadline: Deadline): void {
    if (deadline.expire === undefined) return;
    deadline.expire = undefined;
    this.#live--;
    this.#dropSettled();
  }

  #dropSettled(): void {
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head]?.expire === undefined) {
      entries[this.#head++] = undefined;
    }
    if (this.#head === entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.held > 2 * this.#live + SLACK) {
      // A long piece of work at the front holds back the rest: keep only the live ones.
      this.#entries = entries.filter((entry) => entry?.expire !== undefined);
      this.#head = 0;
    } else if (this.#head > SLACK && this.#head * 2 > entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The timer: expires what is due, then waits for the next live deadline, if any. */
  #due = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    // Read afresh each time: what `expire` calls may start or settle others meanwhile.
    for (let entry = this.#first(); entry !== undefined; entry = this.#first()) {
      const expire = entry.expire;
      if (expire !== undefined && entry.at > now) break;
      this.#entries[this.#head++] = undefined;
      if (expire === undefined) continue;
      entry.expire = undefined;
      this.#live--;
      expire();
    }
    this.#dropSettled();
    const next = this.#first();
    // Node's timers count whole milliseconds of the loop's clock: one may come a fraction
    // early by this clock, and waits again for the rest.
    if (next && this.#timer === undefined) {
      this.#timer = waitFor(this.#due, Math.max(1, Math.ceil(next.at - now)));
    }
  };

  #first(): Deadline | undefined {
    return this.#entries[this.#head];
  }
}
