import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './app-env.ts';
import { chainMiddleware } from './middleware-chain.ts';
import { requestHeader, setAnswerHeader } from './node-response.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError, ProblemSchema, statusTitle } from './problem.ts';
import { byClientAddress, byPrincipal, rateLimit } from './rate-limit/rate-limit-middleware.ts';
import type { RateLimitPolicy } from './rate-limit/rate-limiter.ts';
import { hasBody } from './request-input.ts';
import { requestTimeout } from './request-timeout.ts';
import { type AuthedEnv, requireAuth, SECURITY_SCHEMES } from './security/require-auth.ts';
import type { Scope } from './security/scopes.ts';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not well-formed: a body that does not parse (malformed JSON), or a URL whose escapes are not UTF-8.',
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

/** 429, with the headers a limited answer carries. */
function rateLimitedResponse() {
  const [entry] = Object.values(problemResponses(429));
  const text = { schema: { type: 'string' as const } };
  return {
    429: {
      ...entry,
      headers: {
        'Retry-After': { ...text, description: 'Seconds until the window resets.' },
        RateLimit: {
          ...text,
          description: 'Requests left in the window, and seconds to its reset.',
        },
        'RateLimit-Policy': { ...text, description: 'The limit: requests per window (seconds).' },
      },
    },
  };
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
  /**
   * How often each caller (user, or address when public) may call it. Absent: the app's
   * default policy (`RATE_LIMIT_DEFAULT_*`). `false` opts out, for probes that load
   * balancers call without end.
   */
  rateLimit?: RateLimitPolicy | false;
  /** With `deprecated: true`, the day (YYYY-MM-DD) the operation goes away, sent as `Sunset`. */
  sunset?: string;
  /** How long it may take before the answer starts; `REQUEST_TIMEOUT_MS` when absent. */
  timeoutMs?: number;
  /**
   * What invalid input gets: 422 from the shared validation hook, unless the route's own hook
   * answers as its protocol says (OAuth2's token endpoint: 400).
   */
  invalidInputStatus?: 400 | 422;
}

type RouteEnv<C> = C extends { auth: AuthRequirement } ? AuthedEnv : AppEnv;

/**
 * `Deprecation` (and `Sunset`, RFC 8594) on every answer of a deprecated operation: set
 * before the rest runs, so a refusal (401, 429) or an error answer carries them too.
 */
const announceDeprecation = (sunset: string | undefined): MiddlewareHandler<AppEnv> => {
  const sunsetDate = sunset ? new Date(`${sunset}T00:00:00Z`).toUTCString() : undefined;
  return function announceDeprecation(c, next) {
    setAnswerHeader(c, 'deprecation', 'true');
    if (sunsetDate) setAnswerHeader(c, 'sunset', sunsetDate);
    return next();
  };
};

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/;
const FORM_TYPE = /^(multipart\/form-data|application\/x-www-form-urlencoded)$/;

/** Whether a body sent as `essence` can be read as `declared` (as zod-openapi reads it). */
function readableAs(essence: string, declared: string): boolean {
  if (JSON_TYPE.test(declared)) return JSON_TYPE.test(essence);
  if (FORM_TYPE.test(declared)) return FORM_TYPE.test(essence);
  return essence === declared;
}

/**
 * 415 naming the types the operation accepts, before a validator says only "Unsupported
 * Media Type". `Accept-Post` / `Accept-Patch` carry the same list for programs.
 */
const acceptMediaTypes = (method: string, types: string[]): MiddlewareHandler<AppEnv> => {
  const declared = types.map((type) => type.toLowerCase());
  const list = types.join(' or ');
  const acceptHeader = method === 'patch' ? 'accept-patch' : 'accept-post';
  const refused = (essence: string) =>
    new ProblemError(415, {
      detail: `This operation accepts a body of type ${list}; this one was sent as ${essence || 'no type at all'}`,
      headers: { [acceptHeader]: types.join(', ') },
    });
  // Not async, and the headers read from Node's own (see `requestHeader`): a body of a type
  // the operation reads goes on at once, without the web `Headers` a first `c.req.header()`
  // builds.
  return function acceptMediaTypes(c, next) {
    const header = requestHeader(c, 'content-type');
    const essence = header?.split(';')[0]?.trim().toLowerCase() ?? '';
    if (declared.some((type) => readableAs(essence, type))) return next();
    // Refused if it sends a body at all; the raw body is looked at last, as on Node reading
    // it builds the whole Request.
    if (
      header !== undefined ||
      Number(requestHeader(c, 'content-length') ?? 0) > 0 ||
      requestHeader(c, 'transfer-encoding') !== undefined
    ) {
      throw refused(essence);
    }
    return hasBody(c.req.raw).then((sent) => {
      if (sent) throw refused(essence);
      return next();
    });
  };
};

/**
 * How the document states what an operation requires. OAuth2 requirements carry scopes; an
 * API-key requirement cannot (OpenAPI gives scopes meaning only for oauth2 and
 * openIdConnect, and linters and generators hold to it), so the key's requirement is `[]`
 * and its scopes, the same ones, are stated in `x-required-scopes` and the description.
 * Public operations say so with `security: []`.
 */
function documentedAuth(
  auth: AuthRequirement | undefined,
  description: string | undefined,
): { security: Record<string, string[]>[]; 'x-required-scopes'?: string[]; description?: string } {
  if (!auth) return { security: [], ...(description ? { description } : {}) };
  const scopes = [...auth.scopes];
  const needs =
    scopes.length > 0
      ? `Requires the scope${scopes.length > 1 ? 's' : ''} ${scopes.map((scope) => `\`${scope}\``).join(', ')}, held by the access token or the API key.`
      : 'Requires an access token or an API key; no particular scope.';
  return {
    security: [{ [SECURITY_SCHEMES.oauth2]: scopes }, { [SECURITY_SCHEMES.apiKey]: [] }],
    'x-required-scopes': scopes,
    description: description ? `${description}\n\n${needs}` : needs,
  };
}

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
  const { auth, rateLimit: limit, sunset, timeoutMs, invalidInputStatus, ...route } = config;
  const request = route.request;
  const hasInput = Boolean(
    request?.params ?? request?.query ?? request?.headers ?? request?.cookies ?? request?.body,
  );
  const errors = {
    // Any URL may carry escapes that do not spell UTF-8 (`?%FF`), refused before routing.
    ...problemResponses(400),
    ...(request?.body ? problemResponses(413, 415) : {}),
    ...(auth ? problemResponses(401) : {}),
    ...(auth && auth.scopes.length > 0 ? problemResponses(403) : {}),
    ...(hasInput && invalidInputStatus !== 400 ? problemResponses(422) : {}),
    ...(limit === false ? {} : rateLimitedResponse()),
    ...problemResponses(500, 503),
  };
  const chain: MiddlewareHandler[] = [requestTimeout(timeoutMs, request)];
  if (route.deprecated) chain.push(announceDeprecation(sunset));
  if (auth) chain.push(requireAuth(auth.scopes));
  if (limit !== false) {
    const policy = limit ?? 'default';
    chain.push(auth ? rateLimit(policy, byPrincipal) : rateLimit(policy, byClientAddress));
  }
  // After authentication: a stranger learns nothing of what an operation accepts.
  const bodyTypes = Object.keys(request?.body?.content ?? {});
  if (bodyTypes.length > 0) chain.push(acceptMediaTypes(route.method, bodyTypes));
  // One combined middleware, typed with the env it provides, so handlers behind `auth`
  // (and only those) see `c.get('principal')`.
  const middleware = chainMiddleware(chain) as MiddlewareHandler<RouteEnv<C>>;
  return createRoute({
    ...route,
    ...documentedAuth(auth, route.description),
    // The limit, for readers of the document: a policy, the app's default, or none.
    'x-rate-limit': limit ?? 'default',
    middleware,
    responses: { ...errors, ...route.responses },
  });
}
