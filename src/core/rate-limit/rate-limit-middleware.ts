import type { Context, MiddlewareHandler } from 'hono';
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
  `ip:${clientAddress(c, c.get('trustedProxyHops'))}`;

/** Callers of protected routes are counted per user, whichever credential they use. */
export const byPrincipal = (c: Context<AuthedEnv>) => `user:${c.get('principal').userId}`;

/** The IETF draft's `RateLimit-Policy` value of one policy. */
export function policyHeader(policy: RateLimitPolicy): string {
  return `"${policy.name}";q=${policy.limit};w=${policy.windowSeconds}`;
}

/** The `RateLimit-Policy` and `RateLimit` headers for where a caller stands in `policy`. */
export function rateLimitHeaders(
  policy: RateLimitPolicy,
  remaining: number,
  resetSeconds: number,
): Record<'ratelimit-policy' | 'ratelimit', string> {
  return {
    'ratelimit-policy': policyHeader(policy),
    ratelimit: `"${policy.name}";r=${remaining};t=${resetSeconds}`,
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
  return async function rateLimit(c, next) {
    const fallback: RateLimitPolicy = c.get('defaultRateLimit');
    const applied = policy === 'default' ? fallback : policy;
    let result: RateLimitOutcome;
    try {
      result = await c.get('rateLimiter').hit(applied, subjectOf(c));
    } catch (error) {
      if (error instanceof RateLimiterUnavailableError) {
        throw new ProblemError(503, {
          detail: 'Rate limiting is unavailable; retry shortly',
          headers: { 'retry-after': '5' },
        });
      }
      throw error;
    }
    // Uncounted (Redis down, failing open): no figures rather than made-up ones.
    if (result.uncounted) return next();
    const headers = rateLimitHeaders(applied, result.remaining, result.resetSeconds);
    if (!result.allowed) {
      throw new ProblemError(429, {
        detail: `Rate limit "${applied.name}" reached: ${applied.limit} requests per ${applied.windowSeconds} s`,
        headers: { ...headers, 'retry-after': String(result.resetSeconds) },
      });
    }
    // Set before the handler runs, so an error answer carries them too.
    setAnswerHeader(c, 'ratelimit-policy', headers['ratelimit-policy']);
    setAnswerHeader(c, 'ratelimit', headers.ratelimit);
    await next();
  };
}
