import type { Database } from '../../core/db/database.ts';
import { leasedReservations } from '../../core/rate-limit/reservation-leases.ts';
import type { ReservationLimiter } from '../../core/rate-limit/reservations.ts';
import type { Principal } from '../../core/security/principal.ts';
import { AiRateLimitError, BudgetExceededError } from './ai-errors.ts';
import { periodOf, type StoredBudget } from './budgets.service.ts';
import { formatPicodollars, parseDollars, toNanodollars } from './pricing.ts';
import { spentSince } from './usage.service.ts';

/** Who a call is counted against: the API key it came with, else the user. */
export interface Caller {
  userId: string;
  apiKeyId: string | undefined;
  /**
   * What the credential may do, for the parts of a call that reach further than the call
   * itself (a chat grounded in a collection reads documents). Absent for work a job does on
   * the caller's behalf, which was checked when it was asked for.
   */
  scopes?: ReadonlySet<string>;
}

/** The caller of a request: its API key pays when it came with one, else its user. */
export function callerOf(principal: Principal): Caller {
  return {
    userId: principal.userId,
    apiKeyId: principal.via === 'api_key' ? principal.credentialId : undefined,
    scopes: principal.scopes,
  };
}

/** What a call may use at most, reserved before it starts. */
export interface Need {
  tokens: number;
  /** 10^-12 US dollars: the prompt and the whole output cap, at the model's prices. */
  maxCostPicodollars: bigint;
}

/** A call's reservations: headers to answer with, and how to settle once the truth is known. */
export interface Reservation {
  headers: Record<string, string>;
  settle(actual: { tokens: number; costPicodollars: bigint }): Promise<void>;
}

export interface AiLimits {
  /**
   * Reserves `need` under every limit, or throws `AiRateLimitError` / `BudgetExceededError`.
   * `countRequest: false` leaves requests per minute alone: the lines of a batch, the chunks
   * of a document are one request of their client, paced by tokens.
   */
  reserve(
    caller: Caller,
    need: Need,
    now: Date,
    options?: { countRequest?: boolean },
  ): Promise<Reservation>;
}

const MINUTE = { seconds: 60 } as const;

/**
 * Requests and tokens per minute per key (or user), and spend budgets per user and per key,
 * all as reservations: a call reserves its prompt plus its output cap (and their cost) before
 * it starts, atomically in Redis across every API process, and settles to what it used after.
 * Two processes together can therefore never pass a limit, whatever their replicas. Per
 * minute, a process reserves ahead and settles into what it holds (`leasedReservations`):
 * another process reads the window fuller by up to 1% of its limit.
 */
export function aiLimits(options: {
  db: Database;
  limiter: ReservationLimiter;
  /** The budgets a caller's calls must fit; asked on every call, so it should be cached. */
  budgetsOf: (caller: Caller) => Promise<StoredBudget[]>;
  requestsPerMinute: number;
  tokensPerMinute: number;
  budgetWarningRatio: number;
}): AiLimits {
  const { limiter } = options;
  // Requests and tokens per minute come in many small reservations: a process answers most
  // from what it reserved ahead (decision 076). Budgets stay exact, one round trip each.
  const perMinute = leasedReservations(limiter);

  /** Reserves in a budget's window of this period, started from the database's record. */
  async function reserveInBudget(budget: StoredBudget, amount: number, now: Date) {
    const { start, end } = periodOf(budget.period, now);
    const key = `ai:budget:${budget.id}:${start.toISOString()}`;
    const limit = toNanodollars(parseDollars(budget.limitUsd));
    const window = { endsAt: end };
    let outcome = await limiter.reserve(key, amount, limit, window, { existing: true });
    if (outcome.missing) {
      // No window yet this period (or Redis lost it): start from what the database recorded.
      const spent = parseDollars(await spentSince(options.db, budget.subject, start));
      await limiter.seed(key, toNanodollars(spent), window);
      outcome = await limiter.reserve(key, amount, limit, window);
    }
    return { budget, key, limit, end, outcome };
  }

  return {
    async reserve(caller, need, now, reserveOptions = {}) {
      const subject = caller.apiKeyId ? `key:${caller.apiKeyId}` : `user:${caller.userId}`;
      const rpmKey = `ai:rpm:${subject}`;
      const tpmKey = `ai:tpm:${subject}`;
      const countRequest = reserveOptions.countRequest ?? true;
      const reserved = toNanodollars(need.maxCostPicodollars);
      const budgets = await options.budgetsOf(caller);
      // Every window at once, so a call waits for one round trip to Redis however many limits
      // it meets; each window is still atomic on its own, and when one refuses, the others
      // are given back. Asking for 0 requests reads the window without starting one.
      const [requests, tokens, ...inBudgets] = await Promise.all([
        perMinute.reserve(rpmKey, countRequest ? 1 : 0, options.requestsPerMinute, MINUTE),
        perMinute.reserve(tpmKey, need.tokens, options.tokensPerMinute, MINUTE),
        ...budgets.map((budget) => reserveInBudget(budget, reserved, now)),
      ]);
      const requestsRefused = countRequest && !requests.allowed;
      const overBudget = inBudgets.find(({ outcome }) => !outcome.allowed);
      const refused = requestsRefused || !tokens.allowed || overBudget !== undefined;
      const tokensGivenBack = refused && tokens.allowed;
      const headers: Record<string, string> = {
        'x-ratelimit-limit-requests': String(options.requestsPerMinute),
        'x-ratelimit-remaining-requests': String(requests.remaining),
        'x-ratelimit-reset-requests': `${requests.resetSeconds}s`,
        'x-ratelimit-limit-tokens': String(options.tokensPerMinute),
        'x-ratelimit-remaining-tokens': String(
          tokensGivenBack
            ? Math.min(options.tokensPerMinute, tokens.remaining + need.tokens)
            : tokens.remaining,
        ),
        'x-ratelimit-reset-tokens': `${tokens.resetSeconds}s`,
      };
      if (refused) {
        await Promise.all([
          countRequest && requests.allowed ? perMinute.adjust(rpmKey, -1) : undefined,
          tokensGivenBack ? perMinute.adjust(tpmKey, -need.tokens) : undefined,
          ...inBudgets
            .filter(({ outcome }) => outcome.allowed)
            .map(({ key }) => limiter.adjust(key, -reserved)),
        ]);
        if (requestsRefused) {
          throw new AiRateLimitError('requests', Math.max(1, requests.resetSeconds), headers);
        }
        if (!tokens.allowed) {
          // A call needing more than a whole minute's allowance is refused in a fresh window
          // too (no window to wait for): a minute is as honest a wait as any.
          throw new AiRateLimitError('tokens', Math.max(1, tokens.resetSeconds || 60), headers);
        }
        if (overBudget) {
          const { budget, end } = overBudget;
          throw new BudgetExceededError(budget.subject.type, budget.limitUsd, end);
        }
      }
      for (const { budget, limit, outcome } of inBudgets) {
        if (outcome.used >= limit * options.budgetWarningRatio) {
          const left = formatPicodollars(BigInt(Math.max(0, limit - outcome.used)) * 1_000n);
          headers['x-budget-warning'] =
            `${Math.min(100, Math.round((outcome.used / limit) * 100))}% of the ${budget.subject.type === 'api_key' ? 'key' : 'account'}'s ${budget.period === 'day' ? 'daily' : 'monthly'} budget used; ${left} USD left`;
        }
      }

      return {
        headers,
        async settle(actual) {
          const spent = toNanodollars(actual.costPicodollars);
          await Promise.all([
            perMinute.adjust(tpmKey, actual.tokens - need.tokens),
            ...inBudgets.map(({ key }) => limiter.adjust(key, spent - reserved)),
          ]);
        },
      };
    },
  };
}
