import type { Context, Env, ErrorHandler, Next } from 'hono';
import type { ParamIndexMap, Params, Result, Router } from 'hono/router';
import type { H, RouterRoute } from 'hono/types';
import { COMPLETED, layeredMiddleware, unchained } from './middleware-chain.ts';

/** What Hono's router holds for each route: the handler and the route it belongs to. */
type Entry = [H, RouterRoute];

/**
 * A router that hands Hono every match as one handler. Hono runs the handlers a request
 * matched through its composer (an `async` frame, a promise and an `await` each, and the
 * whole inside one more async function) whenever there is more than one; a lone handler it
 * calls directly, and an answer that handler gives at once goes out through
 * @hono/node-server in the same turn. Every request here matches several (the request
 * context, the operation's middleware, its validator, its handler), so this router gives
 * Hono one handler per match that runs them as the composer would (`layeredMiddleware`):
 * in order, an `Error` thrown by one answered at its layer by the app's error handler, the
 * app's 404 when the last calls `next()` with nothing answered, a 500 when nothing answered,
 * `next()` refused the second time. Every layer reads the operation's parameters.
 *
 * It folds once the app's error handler is known (`answerErrorsWith`, which the app's
 * `onError` calls); until then, and for a path no operation matches (a 404, a mounted app),
 * matches are the inner router's own. An app made from this one by `basePath` shares the
 * router, so it must not set an error handler of its own. Each combination of
 * routes is folded once, kept by the inner router's list of it: `StaticPathRouter` keeps a
 * path's match, and the regular-expression router hands back the same list for the same
 * routes (the trie router, its fallback, a new list each time, folded each time). Drop it
 * when Hono's composer costs no promise per layer (decision 090).
 */
export class FoldingRouter<E extends Env> implements Router<Entry> {
  readonly name: string;
  readonly #inner: Router<Entry>;
  #answerError: ErrorHandler<E> | undefined;
  /** Each combination's fold, or null for one left to the composer. */
  #byIndex = new WeakMap<readonly [Entry, ParamIndexMap][], [[Entry, ParamIndexMap]] | null>();
  #byParams = new WeakMap<readonly [Entry, Params][], [[Entry, Params]] | null>();

  constructor(inner: Router<Entry>) {
    this.#inner = inner;
    this.name = `FoldingRouter(${inner.name})`;
  }

  /** How an `Error` a handler throws is answered, as the app's `onError` says. */
  answerErrorsWith(answerError: ErrorHandler<E>): void {
    this.#answerError = answerError;
    this.#byIndex = new WeakMap();
    this.#byParams = new WeakMap();
  }

  add(method: string, path: string, handler: Entry): void {
    this.#inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<Entry> {
    const result = this.#inner.match(method, path);
    const answerError = this.#answerError;
    if (!answerError || result[0].length < 2) return result;
    if (result.length === 2) {
      const folded = this.#folded(result[0], this.#byIndex, answerError);
      return folded ? [folded, result[1]] : result;
    }
    const folded = this.#folded(result[0], this.#byParams, answerError);
    return folded ? [folded] : result;
  }

  #folded<V>(
    entries: readonly [Entry, Record<string, V>][],
    cache: WeakMap<readonly [Entry, Record<string, V>][], [[Entry, Record<string, V>]] | null>,
    answerError: ErrorHandler<E>,
  ): [[Entry, Record<string, V>]] | null {
    let folded = cache.get(entries);
    if (folded === undefined) {
      const entry = fold(entries, answerError);
      folded = entry ? [entry] : null;
      cache.set(entries, folded);
    }
    return folded;
  }
}

const NOT_FINALIZED =
  'Context is not finalized. Did you forget to return a Response object or `await next()`?';

/** The answer once every layer has run: Hono's composer refuses a request left unanswered. */
function answerOf(c: Context): Response {
  if (!c.finalized) throw new Error(NOT_FINALIZED);
  return c.res;
}

/**
 * The one handler for `entries`, carrying the operation (the first route that is no
 * middleware): `matchedRoutes` names it, and its parameters are what every layer reads, as
 * the composer gives them to the operation itself. Undefined for a path only middleware
 * matches (a 404, a mounted app): the composer tells each its own route there, and such a
 * path is not worth the fold.
 */
function fold<V, E extends Env>(
  entries: readonly [Entry, Record<string, V>][],
  answerError: ErrorHandler<E>,
): [Entry, Record<string, V>] | undefined {
  const operation = entries.find(([[, route]]) => route.method !== 'ALL');
  if (!operation) return undefined;
  const layered = layeredMiddleware(unchained(entries.map(([[handler]]) => handler)), answerError);
  const handler = (c: Context<E>, next: Next): Response | Promise<Response> => {
    // Past the last layer, the app's 404, unless a layer has answered already.
    const outcome = layered(c, () => (c.finalized ? COMPLETED : next()));
    if (outcome === COMPLETED) return answerOf(c);
    return outcome.then(() => answerOf(c));
  };
  return [[handler, operation[0][1]], operation[1]];
}
