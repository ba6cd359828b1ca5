import type { Hook } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/app-env.ts';
import { clientAddress } from '../../core/client-address.ts';
import type { Deps } from '../../core/deps.ts';
import { type FieldError, ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { invalidFields } from '../../core/validation.ts';
import { UserPublic, UserRegister } from '../users/users.schemas.ts';
import { createUser, toPublicUser } from '../users/users.service.ts';
import { LogoutRequest, TokenRequest, TokenResponse } from './auth.schemas.ts';
import {
  authContext,
  type GrantError,
  loginWithPassword,
  logout,
  refreshSession,
} from './auth.service.ts';

export const register = defineRoute({
  method: 'post',
  path: '/v1/auth/register',
  operationId: 'register',
  summary: 'Create an account',
  description:
    'An account with the `user` role, active at once. The email must not be taken (409); the password is stored as a hash. Then log in at `POST /v1/auth/token`.',
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
  // RFC 6749 §5.2: invalid input is 400 `invalid_request` (oauthValidation below).
  invalidInputStatus: 400,
  request: {
    body: {
      content: { 'application/x-www-form-urlencoded': { schema: TokenRequest } },
      required: true,
    },
  },
  responses: {
    200: jsonResponse(TokenResponse, 'An access token and the next refresh token'),
  },
});

export const logoutRoute = defineRoute({
  method: 'post',
  path: '/v1/auth/logout',
  operationId: 'logout',
  summary: 'Log out (revoke a refresh token and its session)',
  description:
    "Revokes the refresh token's session: the refresh token and every access token of that session stop working, on every API process within a second. An unknown or already revoked token answers 204 too, so a client can always log out.",
  tags: ['auth'],
  request: { body: { content: { 'application/json': { schema: LogoutRequest } }, required: true } },
  responses: { 204: { description: 'The session is revoked (also when the token was unknown)' } },
});

/** RFC 6749 §5.2's error for bad input at the token endpoint, still a problem document. */
function oauthRequestError(errors: FieldError[], sentGrantType: boolean): ProblemError {
  // A grant_type that was sent and refused names a grant this server does not offer.
  const unsupported = sentGrantType && errors.some((field) => field.path === 'grant_type');
  const description = errors.map((field) => `${field.path}: ${field.message}`).join('; ');
  return new ProblemError(400, {
    title: unsupported ? 'Unsupported grant type' : 'Invalid request',
    detail: description,
    extensions: {
      error: unsupported ? 'unsupported_grant_type' : 'invalid_request',
      error_description: description,
      errors,
    },
  });
}

/**
 * The token endpoint's validation hook: the shared checks, answered as OAuth clients
 * expect (400 `invalid_request`, or `unsupported_grant_type`), not 422.
 */
function oauthValidation<T, P extends string>(): Hook<T, AppEnv, P, Promise<never> | undefined> {
  return (result, c) =>
    invalidFields(result, c)?.then((errors) => {
      const form: unknown = 'data' in result ? result.data : undefined;
      const sent = typeof form === 'object' && form !== null && 'grant_type' in form;
      throw oauthRequestError(errors, sent);
    });
}

/** A refused grant as the token endpoint answers it: 400 with OAuth2's `error`. */
export function grantProblem(error: GrantError): ProblemError {
  return new ProblemError(400, {
    title: error.code === 'invalid_scope' ? 'Invalid scope' : 'Invalid grant',
    detail: error.message,
    extensions: { error: error.code, error_description: error.message },
  });
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
    .openapi(
      issueToken,
      async (c) => {
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
      },
      oauthValidation(),
    )
    .openapi(logoutRoute, async (c) => {
      await logout(ctx, c.req.valid('json').refresh_token);
      return c.body(null, 204);
    });
}
