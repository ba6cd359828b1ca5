import { clientAddress } from '../../core/client-address.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Deps } from '../../deps.ts';
import { UserPublic, UserRegister } from '../users/users.schemas.ts';
import { createUser, toPublicUser } from '../users/users.service.ts';
import { LogoutRequest, TokenRequest, TokenResponse } from './auth.schemas.ts';
import { type AuthContext, loginWithPassword, logout, refreshSession } from './auth.service.ts';

export const register = defineRoute({
  method: 'post',
  path: '/v1/auth/register',
  operationId: 'register',
  summary: 'Create an account',
  tags: ['auth'],
  rateLimit: { name: 'register', limit: 30, windowSeconds: 600 },
  request: { body: { content: { 'application/json': { schema: UserRegister } }, required: true } },
  responses: {
    201: jsonResponse(UserPublic, 'The new account'),
    ...problemResponses(409),
  },
});

export const issueToken = defineRoute({
  method: 'post',
  path: '/v1/auth/token',
  operationId: 'issueToken',
  summary: 'Log in or refresh (OAuth2 token endpoint)',
  description:
    'The OAuth2 password grant (`grant_type=password`, `username` is the email) and the refresh grant (`grant_type=refresh_token`), as a form. Each refresh token works once: it is rotated, and presenting a used one again revokes its whole session.',
  tags: ['auth'],
  rateLimit: { name: 'token', limit: 60, windowSeconds: 60 },
  request: {
    body: {
      content: { 'application/x-www-form-urlencoded': { schema: TokenRequest } },
      required: true,
    },
  },
  responses: {
    200: jsonResponse(TokenResponse, 'An access token and the next refresh token'),
    ...problemResponses(429),
  },
});

export const logoutRoute = defineRoute({
  method: 'post',
  path: '/v1/auth/logout',
  operationId: 'logout',
  summary: 'Log out (revoke a refresh token and its session)',
  tags: ['auth'],
  request: { body: { content: { 'application/json': { schema: LogoutRequest } }, required: true } },
  responses: { 204: { description: 'The session is revoked (also when the token was unknown)' } },
});

export function authContext(deps: Deps): AuthContext {
  return {
    db: deps.db,
    clock: deps.clock,
    tokens: deps.tokens,
    throttle: deps.loginThrottle,
    refreshTtlSeconds: deps.settings.REFRESH_TOKEN_TTL_SECONDS,
    limits: {
      perAccount: deps.settings.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      perAddress: deps.settings.LOGIN_MAX_FAILURES_PER_IP,
    },
  };
}

/** Registration, the OAuth2 token endpoint and logout. */
export function authRoutes(deps: Deps) {
  const ctx = authContext(deps);
  return createRouter()
    .openapi(register, async (c) => {
      const user = await createUser(deps.db, c.req.valid('json'));
      const logger = c.get('logger');
      // The place for a welcome mail: after the answer, so sending it never delays it.
      c.get('defer')('users.welcome', async () => {
        logger.info({ userId: user.id }, 'welcome, new user');
      });
      return sendJson(c, UserPublic, toPublicUser(user), 201);
    })
    .openapi(issueToken, async (c) => {
      const form = c.req.valid('form');
      // Tokens must not be cached by anything between here and the client (RFC 6749 5.1).
      c.header('cache-control', 'no-store');
      const tokens =
        form.grant_type === 'password'
          ? await loginWithPassword(ctx, {
              email: form.username ?? '',
              password: form.password ?? '',
              scope: form.scope,
              clientAddress: clientAddress(c, deps.settings.TRUST_PROXY_HOPS),
            })
          : await refreshSession(ctx, {
              refreshToken: form.refresh_token ?? '',
              scope: form.scope,
            });
      return c.json(tokens, 200);
    })
    .openapi(logoutRoute, async (c) => {
      await logout(deps.db, c.req.valid('json').refresh_token, deps.clock.now());
      return c.body(null, 204);
    });
}
