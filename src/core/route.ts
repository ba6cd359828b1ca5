import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import type { AppEnv } from './app-env.ts';
import { PROBLEM_CONTENT_TYPE, ProblemSchema, statusTitle } from './problem.ts';
import { byClientAddress, byPrincipal, rateLimit } from './rate-limit/rate-limit-middleware.ts';
import type { RateLimitPolicy } from './rate-limit/rate-limiter.ts';
import { type AuthedEnv, requireAuth, SECURITY_SCHEMES } from './security/require-auth.ts';
import type { Scope } from './security/scopes.ts';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The body is not well-formed (for example malformed JSON).',
  401: 'Missing or invalid credentials; see `WWW-Authenticate`.',
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

type ProblemResponse = {
  description: string;
  content: { 'application/problem+json': { schema: typeof ProblemSchema } };
};

/** Documents error statuses as problem documents, for use in a route's `responses`. */
export function problemResponses<const S extends number>(
  ...statuses: S[]
): { [K in S]: ProblemResponse } {
  const entries = statuses.map((status) => [
    status,
    {
      description: ERROR_DESCRIPTIONS[status] ?? statusTitle(status),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    },
  ]);
  return Object.fromEntries(entries);
}

/** Documents a `Location` header, for answers that point at a created resource or a job. */
export function locationHeader(description: string) {
  return { Location: { schema: { type: 'string' as const }, description } };
}

/** A JSON response entry for a route's `responses`. */
export function jsonResponse<const S>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** What a protected operation requires: an authenticated caller holding every scope. */
export interface AuthRequirement {
  scopes: readonly Scope[];
}

/** What every operation must state, beyond zod-openapi's `RouteConfig`, for good docs. */
interface OperationConfig extends Omit<RouteConfig, 'path' | 'middleware' | 'security'> {
  operationId: string;
  summary: string;
  tags: [string, ...string[]];
  /** Protects the operation; absent means public. */
  auth?: AuthRequirement;
  /** Limits how often each caller (user, or address when public) may call it. */
  rateLimit?: RateLimitPolicy;
  /** With `deprecated: true`, the day (YYYY-MM-DD) the operation goes away, sent as `Sunset`. */
  sunset?: string;
}

type RouteEnv<C> = C extends { auth: AuthRequirement } ? AuthedEnv : AppEnv;

/** `Deprecation` (and `Sunset`, RFC 8594) on every answer of a deprecated operation. */
const announceDeprecation = (sunset: string | undefined): MiddlewareHandler<AppEnv> => {
  const sunsetDate = sunset ? new Date(`${sunset}T00:00:00Z`).toUTCString() : undefined;
  return async function announceDeprecation(c, next) {
    await next();
    c.res.headers.set('deprecation', 'true');
    if (sunsetDate) c.res.headers.set('sunset', sunsetDate);
  };
};

const rememberRequest = (request: RouteConfig['request']): MiddlewareHandler<AppEnv> =>
  async function rememberRouteRequest(c, next) {
    c.set('routeRequest', request);
    await next();
  };

/**
 * The one way to declare an operation: zod-openapi's `createRoute`, plus what the
 * declaration implies. `auth` both enforces authentication and scopes and documents them
 * (security requirement, 401, 403); the error responses any operation can produce are
 * documented from what it accepts.
 *
 * @example
 * const getItem = defineRoute({
 *   method: 'get', path: '/v1/items/{id}', operationId: 'getItem', summary: 'Get an item',
 *   tags: ['items'], auth: { scopes: ['items:read'] }, request: { params: IdParams },
 *   responses: { 200: jsonResponse(ItemPublic, 'The item') },
 * });
 */
export function defineRoute<const P extends string, const C extends OperationConfig & { path: P }>(
  config: C,
) {
  const { auth, rateLimit: limit, sunset, ...route } = config;
  const request = route.request;
  const hasInput = Boolean(
    request?.params ?? request?.query ?? request?.headers ?? request?.cookies ?? request?.body,
  );
  const errors = {
    ...(request?.body ? problemResponses(400, 413, 415) : {}),
    ...(auth ? problemResponses(401) : {}),
    ...(auth && auth.scopes.length > 0 ? problemResponses(403) : {}),
    ...(hasInput ? problemResponses(422) : {}),
    ...(limit ? problemResponses(429) : {}),
    ...problemResponses(500, 503),
  };
  const chain: MiddlewareHandler[] = [rememberRequest(request)];
  if (route.deprecated) chain.push(announceDeprecation(sunset));
  if (auth) chain.push(requireAuth(auth.scopes));
  if (limit) chain.push(auth ? rateLimit(limit, byPrincipal) : rateLimit(limit, byClientAddress));
  // One combined middleware, typed with the env it provides, so handlers behind `auth`
  // (and only those) see `c.get('principal')`.
  const middleware = every(...chain) as MiddlewareHandler<RouteEnv<C>>;
  const security: Record<string, string[]>[] | undefined = auth
    ? [
        { [SECURITY_SCHEMES.oauth2]: [...auth.scopes] },
        { [SECURITY_SCHEMES.apiKey]: [...auth.scopes] },
      ]
    : undefined;
  return createRoute({
    ...route,
    ...(security ? { security } : {}),
    middleware,
    responses: { ...errors, ...route.responses },
  });
}
