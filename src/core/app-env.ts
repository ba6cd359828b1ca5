import type { RouteConfig } from '@hono/zod-openapi';
import type { Logger } from './logger.ts';
import type { RateLimiter, RateLimitPolicy } from './rate-limit/rate-limiter.ts';
import type { Authenticator } from './security/principal.ts';

/** Per-request values every route can read with `c.get(name)`. */
export interface RequestVariables {
  requestId: string;
  /** The process logger, bound to this request's id. */
  logger: Logger;
  /** Verifies credentials for routes that require them (`defineRoute({ auth })`). */
  auth: Authenticator;
  /** Counts requests against each operation's rate limit. */
  rateLimiter: RateLimiter;
  /** The limit of every operation that declares none of its own (settings). */
  defaultRateLimit: RateLimitPolicy;
  /** How long an operation that declares no `timeoutMs` may take (`REQUEST_TIMEOUT_MS`). */
  requestTimeoutMs: number;
  /** Proxies in front of the API whose `X-Forwarded-For` entries are trusted. */
  trustedProxyHops: number;
  /** Runs `task` once this request's response has been sent (FastAPI's `BackgroundTasks`). */
  defer: (name: string, task: () => Promise<void>) => void;
  /** Fail, rather than filter, when a response carries undeclared fields (not in production). */
  strictResponses: boolean;
  /** The request part of the matched route's definition, for validation reporting. */
  routeRequest: RouteConfig['request'];
}

export interface AppEnv {
  Variables: RequestVariables;
}
