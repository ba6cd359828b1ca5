import type { Context, Env, ErrorHandler, Handler, MiddlewareHandler, Next } from 'hono';

/**
 * What a chain here gives back when the rest of it ran to its end in the same turn (a
 * handler that answered at once, as `/livez` does, or a refusal): a promise, as `Next`
 * promises, and one already settled. The template's own middleware compare what `next()`
 * gives them with it to finish at once rather than a turn later, so such a request is
 * answered in the turn it arrived, as bare Hono answers a route of one handler (decision
 * 090); any other middleware awaits it as it would any promise.
 */
export const COMPLETED: Promise<void> = Promise.resolve();

/**
 * Takes what a middleware or handler gave back as Hono's composer takes it: a response it
 * answered with becomes the answer unless one was set already; a promise is waited for, and
 * `failed` handles its rejection. `COMPLETED` when there is nothing to wait for.
 */
function outcomeOf(c: Context, outcome: unknown, failed: (error: unknown) => Promise<void>) {
  if (outcome === COMPLETED) return COMPLETED;
  if (isThenable(outcome)) {
    // A native promise is handed back as it is; anything else with a `then`, awaited as
    // `await` would.
    return Promise.resolve(outcome).then((response: unknown) => {
      if (response instanceof Response && !c.finalized) c.res = response;
    }, failed);
  }
  if (outcome instanceof Response && !c.finalized) c.res = outcome;
  return COMPLETED;
}

const passOn = (error: unknown) => Promise.reject(error);

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    'then' in value &&
    typeof value.then === 'function'
  );
}

const calledTwice = () => Promise.reject(new Error('next() called multiple times'));

/**
 * Runs `handlers` in order as one middleware, each one's `next` calling the one after and
 * the last's calling the route's handler. Hono's `every` does the same through a composer it
 * builds anew for every request; an operation's chain is fixed when it is declared. What
 * one throws or rejects with goes on up, to the layer that holds the chain.
 */
export function chainMiddleware<E extends object>(
  handlers: readonly MiddlewareHandler<E>[],
): MiddlewareHandler<E> {
  const [only] = handlers;
  if (only && handlers.length === 1) return only;
  const run = layers(handlers, undefined);
  const chained: MiddlewareHandler<E> = function chainedMiddleware(c, next) {
    return run(0, c, next);
  };
  chains.set(chained, handlers);
  return chained;
}

/** Each chain `chainMiddleware` made, and the handlers it runs. */
const chains = new WeakMap<object, readonly object[]>();

/**
 * `handlers` with each chain `chainMiddleware` made replaced, where it stands, by the
 * handlers it runs: what `layeredMiddleware` runs as layers of its own, one frame, closure
 * and `next` a chain fewer a request (decision 128). The same order, the same `next`s; an
 * error one of them throws is answered at its own layer rather than the chain's, which the
 * layers before it within the chain then see as an answer, as they would in Hono's composer.
 */
export function unchained<H extends object>(handlers: readonly H[]): H[] {
  return handlers.flatMap((handler) => {
    const parts = chains.get(handler);
    // Only `chainMiddleware` sets parts, and from handlers of the chain's own type.
    return parts ? unchained(parts as readonly H[]) : [handler];
  });
}

/**
 * Runs `handlers` in order as Hono's composer runs the handlers a request matched (every
 * middleware mounted with `app.use`, then the route's own): each one's `next` calls the one
 * after, the last one's the `next` it is given; an `Error` one of them throws or rejects with
 * becomes the answer through `answerError` at that point, so those before it still see a
 * response after `next()` (CORS adds its headers to a 413, the access line records it). A
 * thrown value that is no `Error` goes on up, as the composer lets it.
 *
 * Unlike the composer, it has no `async` frame, promise and `await` per layer (about 8,000
 * instructions a request each, decision 085), and a chain whose every part finishes at once
 * finishes at once (`COMPLETED`).
 */
export function layeredMiddleware<E extends Env>(
  handlers: readonly (MiddlewareHandler<E> | Handler<E>)[],
  answerError: ErrorHandler<E>,
): (c: Context<E>, next: Next) => Promise<void> {
  const answer = (c: Context<E>, error: unknown): Promise<void> => {
    if (!(error instanceof Error)) return Promise.reject(error);
    c.error = error;
    let response: unknown;
    try {
      response = answerError(error, c);
    } catch (thrown) {
      // As from the composer: what the error handler throws reaches the layers before as a
      // rejection, not a throw out of their `next()`.
      return Promise.reject(thrown);
    }
    const answered = (value: unknown) => {
      if (value instanceof Response) c.res = value;
    };
    if (isThenable(response)) return Promise.resolve(response).then(answered);
    answered(response);
    return COMPLETED;
  };
  const run = layers(handlers, answer);
  return (c, next) => run(0, c, next);
}

/**
 * The layer at `index` and those after it. Not async: a frame and a promise per layer fewer
 * than `await` would cost. What one throws at once becomes a rejection, as from an async
 * function; with `answer`, an error is answered at the layer it came from instead.
 */
function layers<E extends Env>(
  handlers: readonly (MiddlewareHandler<E> | Handler<E>)[],
  answer: ((c: Context<E>, error: unknown) => Promise<void>) | undefined,
) {
  const layer = (index: number, c: Context<E>, next: Next): Promise<void> => {
    const handler = handlers[index];
    if (!handler) return next();
    let rest: Promise<void> | undefined;
    let called = false;
    let outcome: unknown;
    try {
      outcome = handler(c, () => {
        // The composer refuses it too: the rest of the chain runs once.
        if (called) return calledTwice();
        called = true;
        rest = layer(index + 1, c, next);
        return rest;
      });
    } catch (error) {
      return answer ? answer(c, error) : Promise.reject(error);
    }
    // The rest's promise handed back as it is: the layers after set the answer, and what
    // they reject with goes on up anyway, so waiting on it here would only cost a promise.
    // Not the caller's own `next()` when errors are answered here: its rejection is this
    // layer's to answer.
    if (outcome === rest && rest !== undefined && (!answer || index + 1 < handlers.length)) {
      return rest;
    }
    return outcomeOf(c, outcome, answer ? (error) => answer(c, error) : passOn);
  };
  return layer;
}
