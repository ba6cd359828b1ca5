import type { ReservationLimiter, ReservationOutcome, ReserveOptions } from './reservations.ts';

/**
 * The most a process holds ahead in one window: 1% of its limit, as the request rate
 * limiter's leases (decision 058), so what processes hold unused is a small share of it.
 */
const LEASE_SHARE = 0.01;

/** The most one process holds of a window with this limit. */
const capOf = (limit: number) => Math.floor(limit * LEASE_SHARE);

/** What this process reserved in a window and has not used yet. */
interface Lease {
  left: number;
  /** The window's count when this process last reserved in it: every process's, leases included. */
  used: number;
  /** `now()` before which the window surely still lasts. */
  expiresAt: number;
  /** How much it reserved ahead last time: doubled each time the window is come back to. */
  ahead: number;
  /** The most it holds: what it is given back past this goes back to the window. */
  cap: number;
}

/**
 * Reservations answered from what this process reserved ahead (decision 076). The first
 * reservation in a window goes to `limiter` as asked; each later one that the lease cannot
 * cover asks for more ahead (twice as much each time, up to 1% of the limit). Adjustments
 * within the window go to the lease: what a call gives back is this process's to reserve
 * again, and only what passes the cap goes back to `limiter`. Everything a lease holds is
 * reserved in `limiter` first, so processes together still never pass a limit; what a
 * process holds when the window ends goes unused, and another process reads a window that
 * much fuller until then. The counts a process reports are exact for its own calls and miss
 * the others' since it last went to `limiter`. A limit under a hundred reservations' worth
 * is never leased.
 *
 * For windows of many small reservations (requests and tokens per minute); `existing`
 * reservations, whose windows start from a record elsewhere (budgets), are passed through.
 *
 * @example
 * const perMinute = leasedReservations(reservations);
 * const outcome = await perMinute.reserve(`tpm:${key}`, estimate, 2_000_000, { seconds: 60 });
 */
export function leasedReservations(
  limiter: ReservationLimiter,
  now: () => number = Date.now,
): ReservationLimiter {
  const leases = new Map<string, Lease>();

  function live(key: string): Lease | undefined {
    const lease = leases.get(key);
    if (lease && lease.expiresAt > now()) return lease;
    if (lease) leases.delete(key);
    return undefined;
  }

  function fromLease(lease: Lease, limit: number): ReservationOutcome {
    const used = lease.used - lease.left;
    return {
      allowed: true,
      used,
      remaining: Math.max(0, limit - used),
      // The window ends up to a second after the lease (see `keep`).
      resetSeconds: Math.ceil((lease.expiresAt - now()) / 1000) + 1,
    };
  }

  /** Records what `limiter` reserved, `ahead` of it kept in the lease, and answers for both. */
  function keep(
    key: string,
    outcome: ReservationOutcome,
    ahead: number,
    limit: number,
  ): ReservationOutcome {
    // A whole second short of the window's end: the limiter reports whole seconds, rounded up.
    const expiresAt = now() + (outcome.resetSeconds - 1) * 1000;
    if (!outcome.allowed || outcome.uncounted || expiresAt <= now()) return outcome;
    const left = (live(key)?.left ?? 0) + ahead;
    leases.set(key, { left, used: outcome.used, expiresAt, ahead, cap: capOf(limit) });
    if (leases.size > 100_000) {
      for (const [name, lease] of leases) if (lease.expiresAt <= now()) leases.delete(name);
    }
    const used = outcome.used - left;
    return { ...outcome, used, remaining: Math.max(0, limit - used) };
  }

  return {
    async reserve(key, amount, limit, window, options?: ReserveOptions) {
      if (options?.existing) return limiter.reserve(key, amount, limit, window, options);
      const lease = live(key);
      if (lease && lease.left >= amount) {
        lease.left -= amount;
        return fromLease(lease, limit);
      }
      const cap = capOf(limit);
      if (cap < amount) return limiter.reserve(key, amount, limit, window);
      // Twice what was asked ahead last time in this window, at least this reservation's
      // worth; nothing ahead the first time, so a key used once holds nothing but what its
      // call gives back. Not when the window, as last seen, cannot take it.
      const ahead = lease ? Math.min(cap, Math.max(amount, lease.ahead * 2)) : 0;
      if (ahead > 0 && lease && lease.used + amount + ahead <= limit) {
        const outcome = await limiter.reserve(key, amount + ahead, limit, window);
        if (outcome.allowed) return keep(key, outcome, ahead, limit);
      }
      return keep(key, await limiter.reserve(key, amount, limit, window), 0, limit);
    },
    async adjust(key, delta) {
      const lease = live(key);
      if (!lease) return limiter.adjust(key, delta);
      if (delta > lease.left) {
        // More than the lease holds: the window itself takes it, past the limit if need be.
        lease.used += delta;
        return limiter.adjust(key, delta);
      }
      lease.left -= delta;
      if (lease.left > lease.cap) {
        const excess = lease.left - lease.cap;
        lease.left = lease.cap;
        lease.used -= excess;
        await limiter.adjust(key, -excess);
      }
    },
    seed: (key, value, window) => limiter.seed(key, value, window),
    used: (key) => limiter.used(key),
  };
}
