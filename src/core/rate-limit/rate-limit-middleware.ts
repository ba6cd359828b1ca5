import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { clientAddress } from '../client-address.ts';
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

/**
 * Enforces `policy` per caller, as `subjectOf` names them. Every answer carries the IETF
 * draft's `RateLimit-Policy` and `RateLimit` headers; a refusal is 429 with `Retry-After`.
 */
export function rateLimit<E extends AppEnv>(
  policy: RateLimitPolicy,
  subjectOf: (c: Context<E>) => string,
): MiddlewareHandler<E> {
  const policyHeader = `"${policy.name}";q=${policy.limit};w=${policy.windowSeconds}`;
  return async function rateLimit(c, next) {
    let result: RateLimitOutcome;
    try {
      result = await c.get('rateLimiter').hit(policy, subjectOf(c));
    } catch (error) {
      if (error instanceof RateLimiterUnavailableError) {
        throw new ProblemError(503, {
          detail: 'Rate limiting is unavailable; retry shortly',
          headers: { 'retry-after': '5' },
        });
      }
      throw error;
    }
    const headers = {
      'ratelimit-policy': policyHeader,
      ratelimit: `"${policy.name}";r=${result.remaining};t=${result.resetSeconds}`,
    };
    if (!result.allowed) {
      throw new ProblemError(429, {
        detail: `Rate limit "${policy.name}" reached: ${policy.limit} requests per ${policy.windowSeconds} s`,
        headers: { ...headers, 'retry-after': String(result.resetSeconds) },
      });
    }
    await next();
    // Uncounted (Redis down, failing open): no figures rather than made-up ones.
    if (result.uncounted) return;
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
