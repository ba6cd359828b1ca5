import { timingSafeEqual } from 'node:crypto';
import type { Handler } from 'hono';
import type { Metrics } from './metrics.ts';
import { problemResponse } from './problem.ts';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /metrics` in Prometheus' text format. With a `token`, scrapers must send it as
 * `Authorization: Bearer <token>`.
 */
export function metricsEndpoint(metrics: Metrics, token: string | undefined): Handler {
  return async function metricsEndpoint(c) {
    if (token && !sameSecret(c.req.header('authorization') ?? '', `Bearer ${token}`)) {
      return problemResponse(c, 401, {
        detail: 'Send the metrics token as a bearer token',
        headers: { 'www-authenticate': 'Bearer realm="metrics"' },
      });
    }
    c.header('content-type', metrics.registry.contentType);
    c.header('cache-control', 'no-store');
    return c.body(await metrics.registry.metrics());
  };
}
