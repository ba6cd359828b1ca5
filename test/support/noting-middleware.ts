import type { MiddlewareHandler } from 'hono';

/**
 * A middleware that notes in `seen` when it runs and the status it sees after `next()`:
 * `"<name> before"`, then `"<name> after <status>"`.
 */
export const notingMiddleware =
  (name: string, seen: string[]): MiddlewareHandler =>
  async (c, next) => {
    seen.push(`${name} before`);
    await next();
    seen.push(`${name} after ${c.res.status}`);
  };
