import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv, RequestServices } from './app-env.ts';
import type { BackgroundTasks } from './background-tasks.ts';
import { acceptDeferredTasks, runAfterAnswer } from './deferred-tasks.ts';
import { LabelledChildren } from './labelled-children.ts';
import { childWhenUsed, type Logger, plainLineWriter } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { COMPLETED } from './middleware-chain.ts';
import { requestHeader, setAnswerHeader } from './node-response.ts';
import { setSecurityHeaders } from './security-headers.ts';

/** Printable ASCII without spaces, short: anything else from a client is replaced. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * The template of the operation that answered (`/v1/items/:id`), not the raw path, so logs,
 * metrics and traces group by operation; undefined when no route matched. Read after the
 * answer: the first route from the last handler run on, as every route matching the path is
 * listed (`/v1/users/me` and `/v1/users/:id` both match `/v1/users/me`) and only the first
 * answers; when a middleware answered early (413, a malformed URL), the route it stopped.
 */
export function operationRoute(c: Context): string | undefined {
  const routes = matchedRoutes(c);
  for (let index = c.req.routeIndex; index < routes.length; index++) {
    const route = routes[index];
    if (route && route.method !== 'ALL') return route.path;
  }
  return undefined;
}

export interface RequestContextOptions {
  logger: Logger;
  metrics: Metrics;
  /** Runs what handlers defer (`c.get('defer')`) once the answer is sent. */
  background: BackgroundTasks;
  /** What the operations' middleware read (`c.get('services')`): the auth, the limits, … */
  services: RequestServices;
}

/**
 * What every request gets, in one middleware (each one more costs a closure and a promise
 * per request): an id (a sane incoming `X-Request-Id` is kept, so ids follow a call across
 * services), a logger bound to it, the per-request variables, the security headers, a place
 * to defer work until the answer is sent, and one access-log line and duration sample at the
 * end. The middleware itself is not async: its work after the answer hangs on the promise
 * the rest of the chain returns, one frame and one promise fewer per request.
 */
export function requestContext(options: RequestContextOptions): MiddlewareHandler<AppEnv> {
  const { logger, metrics, background, services } = options;
  const writeLine = plainLineWriter(logger);
  const durations = new LabelledChildren(metrics.httpDuration);
  return function requestContext(c, next) {
    const started = performance.now();
    metrics.httpInFlight.inc();
    const incoming = requestHeader(c, REQUEST_ID_HEADER);
    const requestId = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('logger', childWhenUsed(logger, { requestId }));
    setAnswerHeader(c, REQUEST_ID_HEADER, requestId);
    c.set('services', services);
    setSecurityHeaders(c);
    const deferred = acceptDeferredTasks(c);
    const answered = () => {
      metrics.httpInFlight.dec();
      runAfterAnswer(c, deferred, background);
      const status = c.res.status;
      const method = c.req.method;
      const route = operationRoute(c);
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      durations.get(method, route ?? 'unmatched', status).observe(durationMs / 1000);
      const line = { requestId, method, route, path: c.req.path, status, durationMs };
      writeLine(status >= 500 ? 'error' : 'info', line, 'request');
    };
    const outcome = next();
    // Answered already (`/livez`): the line is written in this turn, and the answer with it.
    if (outcome === COMPLETED) {
      answered();
      return COMPLETED;
    }
    return outcome.then(answered, (error: unknown) => {
      metrics.httpInFlight.dec();
      throw error;
    });
  };
}
