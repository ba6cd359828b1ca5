import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from './app-env.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

/** Printable ASCII without spaces, short: anything else from a client is replaced. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * The template of the operation that answered (`/v1/items/:id`), not the raw path, so logs,
 * metrics and traces group by operation; undefined when no route matched.
 */
export function operationRoute(c: Context): string | undefined {
  return matchedRoutes(c).findLast((route) => route.method !== 'ALL')?.path;
}

/**
 * Gives each request an id (a sane incoming `X-Request-Id` is kept, so ids follow a call
 * across services), a logger bound to it, and writes one access-log line when it ends.
 */
export function requestContext(logger: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async function requestContext(c, next) {
    const started = performance.now();
    metrics.httpInFlight.inc();
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const requestId = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    const requestLogger = logger.child({ requestId });
    c.set('requestId', requestId);
    c.set('logger', requestLogger);
    c.header(REQUEST_ID_HEADER, requestId);
    try {
      await next();
    } finally {
      metrics.httpInFlight.dec();
    }
    const status = c.res.status;
    const route = operationRoute(c);
    const line = {
      method: c.req.method,
      route,
      path: c.req.path,
      status,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    };
    metrics.httpDuration.observe(
      { method: line.method, route: line.route ?? 'unmatched', status: String(status) },
      line.durationMs / 1000,
    );
    if (status >= 500) requestLogger.error(line, 'request');
    else requestLogger.info(line, 'request');
  };
}
