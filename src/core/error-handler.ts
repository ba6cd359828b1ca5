import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TrieRouter } from 'hono/router/trie-router';
import type { AppEnv } from './app-env.ts';
import type { Logger } from './logger.ts';
import { ProblemError, problemResponse } from './problem.ts';

/**
 * Turns anything thrown while handling a request into a problem document. Only a
 * `ProblemError` or Hono's own `HTTPException` shows its message; anything else is a bug,
 * logged in full, and the client gets a 500 carrying the request id alone.
 */
export function createErrorHandler(logger: Logger): ErrorHandler<AppEnv> {
  return function handleError(error, c) {
    if (error instanceof ProblemError) {
      return problemResponse(c, error.status, error.init);
    }
    // Hono throws these on purpose (malformed JSON, unsupported media type, timeout) with a
    // message written for the client.
    if (error instanceof HTTPException && error.status !== 500) {
      return problemResponse(c, error.status, error.message ? { detail: error.message } : {});
    }
    (c.get('logger') ?? logger).error(
      { err: error, requestId: c.get('requestId') },
      'unhandled error',
    );
    return problemResponse(c, 500);
  };
}

interface RegisteredRoute {
  method: string;
  path: string;
}

/**
 * A 404 for paths nothing serves, and a 405 with `Allow` for paths served under other
 * methods, from the app's route table.
 */
export function createNotFoundHandler(routes: readonly RegisteredRoute[]): NotFoundHandler<AppEnv> {
  let methodsByPath: TrieRouter<string> | undefined;
  // Built on first use, from the app's live route table, so routes mounted late count too.
  const index = () => {
    const router = new TrieRouter<string>();
    for (const route of routes) {
      // Middleware registers under ALL; only real operations say which methods a path has.
      if (route.method !== 'ALL') router.add('ALL', route.path, route.method);
    }
    return router;
  };
  return function notFound(c: Context<AppEnv>) {
    methodsByPath ??= index();
    const [matches] = methodsByPath.match('GET', c.req.path);
    const allowed = new Set(matches.map(([method]) => method));
    if (allowed.has('GET')) allowed.add('HEAD');
    if (allowed.size === 0) {
      return problemResponse(c, 404, { detail: `No route matches ${c.req.method} ${c.req.path}` });
    }
    const allow = [...allowed].sort().join(', ');
    return problemResponse(c, 405, {
      detail: `${c.req.method} is not allowed here; allowed: ${allow}`,
      headers: { allow },
    });
  };
}
