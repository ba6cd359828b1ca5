import type { Context, MiddlewareHandler, Next } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { clientAddress } from '../client-address.ts';
import { setAnswerHeader } from '../node-response.ts';
import { ProblemError } from '../problem.ts';
import type { AuthedEnv } from '../security/require-auth.ts';
import {
  RateLimiterUnavailableError,
  type RateLimitOutcome,
  type RateLimitPolicy,
} from './rate-limiter.ts';

/** Callers of public routes are told apart by address (see `TRUST_PROXY_HOPS`). */
export const byClientAddress = (c: Context<AppEnv>) =>
  `ip:${clientAddress(c, c.get('services').trustedProxyHops)}`;

/** Callers of protected routes are counted per user, whichever credential they use. */
export const byPrincipal = (c: Context<AuthedEnv>) => `user:${c.get('principal').userId}`;

/** Each policy's `RateLimit-Policy` value, written once: a policy is fixed once declared. */
const policyHeaders = new WeakMap<RateLimitPolicy, string>();

/** The IETF draft's `RateLimit-Policy` value of one policy. */
export function policyHeader(policy: RateLimitPolicy): string {
  let header = policyHeaders.get(policy);
  if (header === undefined) {
    header = `"${policy.name}";q=${policy.limit};w=${policy.windowSeconds}`;
    policyHeaders.set(policy, header);
  }
  return header;
}

/** The IETF draft's `RateLimit` value: where a caller stands in `policy`. */
function standingHeader(policy: RateLimitPolicy, remaining: number, resetSeconds: number) {
  return `"${policy.name}";r=${remaining};t=${resetSeconds}`;
}

/** The `RateLimit-Policy` and `RateLimit` headers for where a caller stands in `policy`. */
export function rateLimitHeaders(
  policy: RateLimitPolicy,
  remaining: number,
  resetSeconds: number,
): Record<'ratelimit-policy' | 'ratelimit', string> {
  return {
    'ratelimit-policy': policyHeader(policy),
    ratelimit: standingHeader(policy, remaining, resetSeconds),
  };
}

/**
 * Enforces `policy` per caller, as `subjectOf` names them; `'default'` is the app's default
 * policy (settings), read per request. Every answer, error or not, carries the IETF draft's
 * `RateLimit-Policy` and `RateLimit` headers; a refusal is 429 with `Retry-After`.
 */
export function rateLimit<E extends AppEnv>(
  policy: RateLimitPolicy | 'default',
  subjectOf: (c: Context<E>) => string,
): MiddlewareHandler<E> {
  // Not async: a hit answered from a lease goes on to `next` in the same turn (decision 088).
  return function rateLimit(c, next) {
    const services = c.get('services');
    const applied = policy === 'default' ? services.defaultRateLimit : policy;
    const result = services.rateLimiter.hit(applied, subjectOf(c));
    if (result instanceof Promise) {
      return result.then(
        (counted) => admit(c, next, applied, counted),
        (error: unknown) => {
          throw unavailable(error);
        },
      );
    }
    return admit(c, next, applied, result);
  };
}

/** Lets the request on, with where its caller stands, or refuses it with 429. */
function admit(
  c: Context,
  next: Next,
  applied: RateLimitPolicy,
  result: RateLimitOutcome,
): Promise<void> {
  // Uncounted (Redis down, failing open): no figures rather than made-up ones.
  if (result.uncounted) return next();
  if (!result.allowed) {
    const headers = rateLimitHeaders(applied, result.remaining, result.resetSeconds);
    throw new ProblemError(429, {
      detail: `Rate limit "${applied.name}" reached: ${applied.limit} requests per ${applied.windowSeconds} s`,
      headers: { ...headers, 'retry-after': String(result.resetSeconds) },
    });
  }
  // Set before the handler runs, so an error answer carries them too.
  setAnswerHeader(c, 'ratelimit-policy', policyHeader(applied));
  setAnswerHeader(c, 'ratelimit', standingHeader(applied, result.remaining, result.resetSeconds));
  return next();
}

/** A limiter that refuses when Redis fails answers 503; any other error stays as it is. */
function unavailable(error: unknown): unknown {
  if (!(error instanceof RateLimiterUnavailableError)) return error;
  return new ProblemError(503, {
    detail: 'Rate limiting is unavailable; retry shortly',
    headers: { 'retry-after': '5' },
  });
}
