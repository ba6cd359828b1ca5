import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { operationRoute } from './request-context.ts';
import { inSpan } from './tracing.ts';

/**
 * One server span per request, continuing the caller's trace (`traceparent`), named by the
 * route template once routing is done: `GET /v1/items/:id`. Installed only with tracing on.
 */
export function traceRequests(): MiddlewareHandler {
  return async function traceRequests(c, next) {
    const carrier: Record<string, string> = {};
    const traceparent = c.req.header('traceparent');
    if (traceparent) carrier.traceparent = traceparent;
    const tracestate = c.req.header('tracestate');
    if (tracestate) carrier.tracestate = tracestate;
    await inSpan(
      `${c.req.method}`,
      carrier,
      { 'http.request.method': c.req.method, 'url.path': c.req.path },
      SpanKind.SERVER,
      async (span) => {
        await next();
        const route = operationRoute(c);
        if (route) {
          span.updateName(`${c.req.method} ${route}`);
          span.setAttribute('http.route', route);
        }
        span.setAttribute('http.response.status_code', c.res.status);
        if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      },
    );
  };
}
