import type { RouteConfig } from '@hono/zod-openapi';
import type { Logger } from './logger.ts';
import type { RateLimiter, RateLimitPolicy } from './rate-limit/rate-limiter.ts';
import type { Authenticator } from './security/principal.ts';

/**
 * What the app gives the operations' own middleware (authentication, rate limits, timeouts,
 * response checks), made once with the app from its dependencies and settings: one object a
 * request rather than a variable each (decision 128).
 */
export interface RequestServices {
  /** Verifies credentials for routes that require them (`defineRoute({ auth })`). */
  readonly auth: Authenticator;
  /** Counts requests against each operation's rate limit. */
  readonly rateLimiter: RateLimiter;
  /** The limit of every operation that declares none of its own (settings). */
  readonly defaultRateLimit: RateLimitPolicy;
  /** How long an operation that declares no `timeoutMs` may take (`REQUEST_TIMEOUT_MS`). */
  readonly requestTimeoutMs: number;
  /** Proxies in front of the API whose `X-Forwarded-For` entries are trusted. */
  readonly trustedProxyHops: number;
  /** Fail, rather than filter, when a response carries undeclared fields (not in production). */
  readonly strictResponses: boolean;
}

/** Per-request values every route can read with `c.get(name)`. */
export interface RequestVariables {
  requestId: string;
  /** The process logger, bound to this request's id. */
  logger: Logger;
  /** The app's services for the operations' middleware (`RequestServices`). */
  services: RequestServices;
  /** Runs `task` once this request's response has been sent (FastAPI's `BackgroundTasks`). */
  defer: (name: string, task: () => Promise<void>) => void;
  /** The request part of the matched route's definition, for validation reporting. */
  routeRequest: RouteConfig['request'];
}

export interface AppEnv {
  Variables: RequestVariables;
}
