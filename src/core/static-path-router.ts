import { type Result, type Router, UnsupportedPathError } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';

/** Methods whose answers are remembered; any other token a client sends is matched afresh. */
const KNOWN_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** A path with a parameter or a wildcard: one that matches more than itself. */
const PATTERN = /[:*{]/;

/**
 * Hono's own router choice (the regular-expression router, or the trie router when a route
 * needs it), with the match of every path a route declares without parameters (`/livez`,
 * `/v1/items`) kept once found, and every other path matched by a regular-expression router
 * of the routes with parameters alone.
 *
 * The app needs the trie router: `/v1/users/me` beside `/v1/users/{id}` is beyond the
 * regular-expression one (both match `/v1/users/me`, and its one expression can name only
 * one). But a path that is no route's own path matches no route without parameters, so for
 * those paths the routes with parameters and wildcards are all there is to match, and those
 * the regular-expression router takes: one expression run instead of a search of the tree,
 * which cost the item read 2.3 µs and 3.4 KB of garbage a request here (decision 054). Should
 * the routes with parameters be beyond it too, the trie router matches everything.
 *
 * A match depends only on the method and the path once the routes are added, and the paths
 * kept are the app's own, so the memory is bounded.
 */
export class StaticPathRouter<T> implements Router<T> {
  readonly name = 'StaticPathRouter';
  readonly #router = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] });
  /** The routes with parameters or wildcards; undefined once one is beyond it. */
  #patterns: RegExpRouter<T> | undefined = new RegExpRouter<T>();
  readonly #staticPaths = new Set<string>();
  /** By method, then path: no key to build per request. */
  readonly #matches = new Map(
    KNOWN_METHODS.map((method) => [method, new Map<string, Result<T>>()] as const),
  );

  add(method: string, path: string, handler: T): void {
    this.#router.add(method, path, handler);
    if (!PATTERN.test(path)) {
      this.#staticPaths.add(path);
      return;
    }
    try {
      this.#patterns?.add(method, path, handler);
    } catch (error) {
      if (!(error instanceof UnsupportedPathError)) throw error;
      this.#patterns = undefined;
    }
  }

  match(method: string, path: string): Result<T> {
    if (!this.#staticPaths.has(path)) return this.#matchPattern(method, path);
    const byPath = this.#matches.get(method);
    if (!byPath) return this.#router.match(method, path);
    let result = byPath.get(path);
    if (!result) {
      result = this.#router.match(method, path);
      byPath.set(path, result);
    }
    return result;
  }

  #matchPattern(method: string, path: string): Result<T> {
    if (this.#patterns) {
      try {
        return this.#patterns.match(method, path);
      } catch (error) {
        // Built on the first match, it may find only then that a route is beyond it.
        if (!(error instanceof UnsupportedPathError)) throw error;
        this.#patterns = undefined;
      }
    }
    return this.#router.match(method, path);
  }
}
