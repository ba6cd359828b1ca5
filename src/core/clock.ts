/**
 * The source of "now" for anything that expires (tokens, keys, idempotency records).
 * Injected so tests can move time forward instead of waiting.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock that only moves when told to, for tests.
 *
 * @example
 * const clock = manualClock(new Date('2030-01-01T00:00:00Z'));
 * clock.advance(60_000);
 */
export function manualClock(
  start: Date,
): Clock & { advance(ms: number): void; set(at: Date): void } {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advance: (ms) => {
      current += ms;
    },
    set: (at) => {
      current = at.getTime();
    },
  };
}
