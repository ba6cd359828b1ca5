import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './app-env.ts';
import { PROBLEM_CONTENT_TYPE, ProblemSchema, statusTitle } from './problem.ts';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The body is not well-formed (for example malformed JSON).',
  401: 'Missing or invalid credentials.',
  403: 'The credentials lack a required scope.',
  404: 'No such resource, or it belongs to someone else.',
  409: 'The request conflicts with the current state.',
  412: 'The `If-Match` precondition failed.',
  413: 'The body is larger than the server accepts.',
  415: 'The body has a content type this operation does not accept.',
  422: 'One or more fields are invalid; `errors` lists each of them.',
  429: 'Too many requests; retry after `Retry-After` seconds.',
  500: 'An unexpected error; the body carries only the request id to quote.',
  503: 'A dependency is unavailable, or the request timed out; retry later.',
};

/** Documents error statuses as problem documents, for use in a route's `responses`. */
export function problemResponses<const S extends number>(...statuses: S[]) {
  const entries = statuses.map((status) => [
    status,
    {
      description: ERROR_DESCRIPTIONS[status] ?? statusTitle(status),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    },
  ]);
  return Object.fromEntries(entries) as {
    [K in S]: {
      description: string;
      content: { 'application/problem+json': { schema: typeof ProblemSchema } };
    };
  };
}

/** What every operation must state, beyond zod-openapi's `RouteConfig`, for good docs. */
interface DocumentedOperation {
  operationId: string;
  summary: string;
  tags: [string, ...string[]];
}

const rememberRequest = (request: RouteConfig['request']): MiddlewareHandler<AppEnv> =>
  async function rememberRouteRequest(c, next) {
    c.set('routeRequest', request);
    await next();
  };

/**
 * The one way to declare an operation: zod-openapi's `createRoute`, plus the error responses
 * every operation can produce (documented from what the route accepts) and the bookkeeping
 * the shared validation hook needs.
 *
 * @example
 * const getItem = defineRoute({
 *   method: 'get', path: '/v1/items/{id}', operationId: 'getItem', summary: 'Get an item',
 *   tags: ['items'], request: { params: ItemParams },
 *   responses: { 200: jsonResponse(ItemPublic, 'The item') },
 * });
 */
export function defineRoute<
  const P extends string,
  const R extends Omit<RouteConfig, 'path' | 'operationId' | 'summary' | 'tags'> &
    DocumentedOperation & { path: P },
>(config: R) {
  const request = config.request;
  const hasInput = Boolean(
    request?.params ?? request?.query ?? request?.headers ?? request?.cookies ?? request?.body,
  );
  const errors = {
    ...(request?.body ? problemResponses(400, 413, 415) : {}),
    ...(hasInput ? problemResponses(422) : {}),
    ...problemResponses(500, 503),
  };
  const middleware = config.middleware === undefined ? [] : [config.middleware].flat();
  return createRoute({
    ...config,
    middleware: [rememberRequest(request), ...middleware],
    responses: { ...errors, ...config.responses },
  });
}

/** A JSON response entry for a route's `responses`. */
export function jsonResponse<const S>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } } as const;
}
