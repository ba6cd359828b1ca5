import type { MiddlewareHandler } from 'hono';

/**
 * Hardening headers every answer carries (those of Hono's `secureHeaders` that matter to an
 * API and its docs page). Set before the handler runs, so they cost one object merge per
 * response rather than a header validation each afterwards.
 */
const SECURITY_HEADERS: readonly [string, string][] = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'SAMEORIGIN'],
  ['referrer-policy', 'no-referrer'],
  ['strict-transport-security', 'max-age=15552000; includeSubDomains'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-site'],
  ['x-permitted-cross-domain-policies', 'none'],
];

export function securityHeaders(): MiddlewareHandler {
  return async function securityHeaders(c, next) {
    for (const [name, value] of SECURITY_HEADERS) c.header(name, value);
    await next();
  };
}
