import type { Context, MiddlewareHandler, Next } from 'hono';

/**
 * Runs `handlers` in order as one middleware, each one's `next` calling the one after and
 * the last's calling the route's handler. Hono's `every` does the same through a composer it
 * builds anew for every request; an operation's chain is fixed when it is declared.
 */
export function chainMiddleware<E extends object>(
  handlers: readonly MiddlewareHandler<E>[],
): MiddlewareHandler<E> {
  const [only] = handlers;
  if (only && handlers.length === 1) return only;
  return function chainedMiddleware(c, next) {
    return run(handlers, 0, c, next);
  };
}

async function run<E extends object>(
  handlers: readonly MiddlewareHandler<E>[],
  index: number,
  c: Context<E>,
  next: Next,
): Promise<void> {
  const handler = handlers[index];
  if (!handler) return next();
  const answer = await handler(c, () => run(handlers, index + 1, c, next));
  // A middleware that answers itself returns its response, as Hono's composer expects.
  if (answer instanceof Response) c.res = answer;
}
