import type { Context, MiddlewareHandler, Next } from 'hono';
import type { RequestVariables } from '../app-env.ts';
import { requestHeader } from '../node-response.ts';
import { ProblemError } from '../problem.ts';
import type { AuthResult, Principal } from './principal.ts';
import type { Scope } from './scopes.ts';

export interface AuthedEnv {
  Variables: RequestVariables & { principal: Principal };
}

/** Both ways of authenticating, as the OpenAPI document names them. */
export const SECURITY_SCHEMES = { oauth2: 'OAuth2Password', apiKey: 'ApiKeyHeader' } as const;

const CHALLENGE = 'Bearer realm="api"';

const REASONS = {
  missing: 'Send a bearer token in Authorization or an API key in X-API-Key',
  invalid: 'The credentials are not valid',
  expired: 'The credentials have expired',
  revoked: 'The credentials have been revoked',
  inactive: 'The account is deactivated',
} as const;

/**
 * Authenticates the request and checks it carries every scope in `scopes`. Used through
 * `defineRoute({ auth: { scopes } })`, which also documents it; handlers then read
 * `c.get('principal')`.
 */
export function requireAuth(scopes: readonly Scope[]): MiddlewareHandler<AuthedEnv> {
  // Not async: a credential the process has cached is answered in the same turn, and the
  // request goes on to `next` without waiting on a promise (decision 088).
  return function requireAuth(c, next) {
    const result = c.get('services').auth.authenticate({
      // Read from Node's own headers: through `c.req.header`, the first header read builds
      // the request's whole web `Headers` (see `requestHeader`).
      authorization: requestHeader(c, 'authorization'),
      apiKey: requestHeader(c, 'x-api-key'),
    });
    if (result instanceof Promise) return result.then((settled) => admit(c, next, scopes, settled));
    return admit(c, next, scopes, result);
  };
}

/** Lets the request on as the principal, or refuses it with 401 or 403. */
function admit(
  c: Context<AuthedEnv>,
  next: Next,
  scopes: readonly Scope[],
  result: AuthResult,
): Promise<void> {
  if (!result.ok) {
    const error = result.reason === 'missing' ? '' : ', error="invalid_token"';
    throw new ProblemError(401, {
      detail: REASONS[result.reason],
      headers: { 'www-authenticate': `${CHALLENGE}${error}` },
    });
  }
  const missing = scopes.filter((scope) => !result.principal.scopes.has(scope));
  if (missing.length > 0) {
    throw new ProblemError(403, {
      detail: `Missing scope: ${missing.join(' ')}`,
      headers: {
        'www-authenticate': `${CHALLENGE}, error="insufficient_scope", scope="${scopes.join(' ')}"`,
      },
    });
  }
  c.set('principal', result.principal);
  return next();
}
