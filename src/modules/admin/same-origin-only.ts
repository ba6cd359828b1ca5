import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { ProblemError } from '../../core/problem.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * CSRF protection for cookie-authenticated pages: a request that changes something (any
 * method but GET, HEAD, OPTIONS) must come from this site's own pages. Browsers say where a
 * request comes from in `Sec-Fetch-Site` (which a page cannot forge) and `Origin`, and send
 * `Origin` with every such request; one with neither header comes from a program, which no
 * other site can make a browser send, so it passes unless it carries the session `cookie`.
 * Unlike `hono/csrf`, JSON bodies are checked too: the dashboard's API takes them.
 *
 * `publicUrl` (PUBLIC_URL) names this site's origin when a proxy in front changes the
 * scheme or host the app sees.
 */
export function sameOriginOnly(options: {
  cookie: string;
  publicUrl: string | undefined;
}): MiddlewareHandler {
  const publicOrigin = options.publicUrl ? new URL(options.publicUrl).origin : undefined;
  return async function sameOriginOnly(c, next) {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const site = c.req.header('sec-fetch-site');
    const origin = c.req.header('origin');
    const ownOrigin = new URL(c.req.url).origin;
    const allowed =
      site !== undefined
        ? site === 'same-origin'
        : origin !== undefined
          ? origin === ownOrigin || origin === publicOrigin
          : getCookie(c, options.cookie) === undefined;
    if (!allowed) {
      throw new ProblemError(403, {
        detail: `Cross-origin request refused: changes here are accepted only from this site's own pages (Origin ${publicOrigin ?? ownOrigin}), not from ${origin ?? site ?? 'a request without Origin'}`,
      });
    }
    await next();
  };
}
