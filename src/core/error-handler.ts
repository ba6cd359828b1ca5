import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TrieRouter } from 'hono/router/trie-router';
import type { AppEnv } from './app-env.ts';
import { isDataException, sqlStateOf } from './db/errors.ts';
import { DependencyUnavailableError, isDependencyUnavailable } from './dependency-errors.ts';
import { DomainError } from './domain-errors.ts';
import { problemFromDomainError } from './domain-problems.ts';
import type { Logger } from './logger.ts';
import { ProblemError, problemResponse } from './problem.ts';

/**
 * Turns anything thrown while handling a request into a problem document. Only a
 * `ProblemError`, a `DomainError` (core's kinds in `domain-problems.ts`, a module's by the
 * `mappings` its manifest gives) or Hono's own `HTTPException` shows its message; a lost connection to the
 * database or Redis is a 503; a value PostgreSQL refuses (a data exception) is a 422,
 * logged as a bug in validation; anything else is a bug, logged, and the client gets a 500
 * carrying the request id alone.
 */
export function createErrorHandler(
  logger: Logger,
  mappings: readonly ((error: unknown) => ProblemError | undefined)[] = [],
): ErrorHandler<AppEnv> {
  const fromModules = (error: unknown) => {
    for (const map of mappings) {
      const problem = map(error);
      if (problem) return problem;
    }
    return undefined;
  };
  return function handleError(thrown, c) {
    const error =
      (thrown instanceof DomainError && (problemFromDomainError(thrown) ?? fromModules(thrown))) ||
      thrown;
    if (error instanceof ProblemError) {
      return problemResponse(c, error.status, error.init);
    }
    // Hono throws these on purpose (malformed JSON, unsupported media type, timeout) with a
    // message written for the client.
    if (error instanceof HTTPException && error.status !== 500) {
      return problemResponse(c, error.status, error.message ? { detail: error.message } : {});
    }
    const log = c.get('logger') ?? logger;
    if (isDependencyUnavailable(error)) {
      log.warn({ err: error }, 'a dependency is unavailable');
      return problemResponse(c, 503, {
        detail:
          error instanceof DependencyUnavailableError
            ? error.message
            : 'A service this request needs is unavailable; retry shortly',
        headers: { 'retry-after': '5' },
      });
    }
    if (isDataException(error)) {
      // The client's value, refused by PostgreSQL: their mistake, but validation let it pass.
      log.error(
        { err: error, requestId: c.get('requestId') },
        'bug: a value the database refuses passed validation; tighten the schema',
      );
      return problemResponse(c, 422, {
        detail: `A value in the request cannot be stored (SQLSTATE ${sqlStateOf(error)}); check the fields' types and lengths`,
      });
    }
    log.error({ err: error, requestId: c.get('requestId') }, 'unhandled error');
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
