import type { RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './app-env.ts';
import { Deadlines } from './deadlines.ts';
import { COMPLETED } from './middleware-chain.ts';
import { ProblemError } from './problem.ts';

/**
 * A request still unanswered after its time gets 503: the operation's own `timeoutMs` when
 * it declares one (a model's answer may take minutes), else the app's (`REQUEST_TIMEOUT_MS`,
 * in `c.get('services')`). A streamed answer counts as answered once it starts. The
 * requests under one limit share one timer (`Deadlines`, decision 128).
 */
export function requestTimeout(
  timeoutMs: number | undefined,
  request: RouteConfig['request'],
): MiddlewareHandler<AppEnv> {
  // The operation's own limit's deadlines, found once; the app's, by its limit per request.
  const own = timeoutMs === undefined ? undefined : deadlinesOf(timeoutMs);
  return function requestTimeout(c, next) {
    // The operation's declared input, for the validation hook's report (set here, the first
    // of the operation's middlewares, rather than in one more).
    c.set('routeRequest', request);
    const pending = next();
    // Answered in this turn (`/livez`, a refusal): nothing left to time.
    if (pending === COMPLETED) return COMPLETED;
    const limit = timeoutMs ?? c.get('services').requestTimeoutMs;
    const deadlines = own ?? deadlinesOf(limit);
    // One promise settled by whichever comes first, rather than a race of two and an async
    // frame around it: three promises fewer a request.
    return new Promise<void>((resolve, reject) => {
      const deadline = deadlines.start(() =>
        reject(
          new ProblemError(503, {
            detail: `No answer within ${limit} ms`,
            headers: { 'retry-after': '5' },
          }),
        ),
      );
      pending.then(
        () => {
          deadlines.settle(deadline);
          resolve();
        },
        (error: unknown) => {
          deadlines.settle(deadline);
          reject(error);
        },
      );
    });
  };
}

/** The deadlines of requests under each limit in use: a handful, one per distinct limit. */
const deadlinesByLimit = new Map<number, Deadlines>();

function deadlinesOf(limitMs: number): Deadlines {
  let deadlines = deadlinesByLimit.get(limitMs);
  if (!deadlines) {
    deadlines = new Deadlines(limitMs);
    deadlinesByLimit.set(limitMs, deadlines);
  }
  return deadlines;
}
