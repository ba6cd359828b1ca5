import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../app-env.ts';
import { SECURITY_SCHEMES } from './require-auth.ts';
import type { ScopeCatalog } from './scopes.ts';

/**
 * Declares both ways to authenticate in the OpenAPI document, so the docs page's
 * "Authorize" dialog can log in with the password flow or take an API key.
 */
export function registerSecuritySchemes(
  app: OpenAPIHono<AppEnv>,
  scopes: Pick<ScopeCatalog, 'descriptions'>,
): void {
  app.openAPIRegistry.registerComponent('securitySchemes', SECURITY_SCHEMES.oauth2, {
    type: 'oauth2',
    description:
      'Log in with your email and password; the token is sent as `Authorization: Bearer …`.',
    flows: {
      password: {
        tokenUrl: '/v1/auth/token',
        refreshUrl: '/v1/auth/token',
        scopes: { ...scopes.descriptions },
      },
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', SECURITY_SCHEMES.apiKey, {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description:
      'A key from `POST /v1/api-keys`, as `X-API-Key: hsk_…`, or as `Authorization: Bearer hsk_…` (how OpenAI’s clients send a key).',
  });
}
