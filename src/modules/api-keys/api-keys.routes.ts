import type { Deps } from '../../core/deps.ts';
import { IdParams } from '../../core/ids.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { ApiKeyCreate, ApiKeyCreated, ApiKeyList } from './api-keys.schemas.ts';
import { createApiKey, listApiKeys, revokeApiKey, toPublicApiKey } from './api-keys.service.ts';

export const createApiKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  rateLimit: { name: 'api-keys', limit: 30, windowSeconds: 3600 },
  summary: 'Create an API key',
  description:
    'The key is in the response, once; only its hash is stored. Its scopes must be among your own. Send it as `X-API-Key`.',
  tags: ['api-keys'],
  auth: { scopes: [] },
  request: { body: { content: { 'application/json': { schema: ApiKeyCreate } }, required: true } },
  responses: {
    201: jsonResponse(ApiKeyCreated, 'The key, shown this once'),
    403: {
      ...problemResponses(403)[403],
      description: 'A scope asked for is one you do not hold yourself.',
    },
  },
});

export const listApiKeysRoute = defineRoute({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  summary: 'List your API keys',
  description:
    'Your keys that are not revoked, with their scopes, expiry and last use; never the key itself, which is shown only when created.',
  tags: ['api-keys'],
  auth: { scopes: [] },
  responses: { 200: jsonResponse(ApiKeyList, 'Your keys that are not revoked, newest first') },
});

export const revokeApiKeyRoute = defineRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  summary: 'Revoke an API key',
  description:
    'Takes effect at once: this process refuses the key from the answer on, every other API process within a second (through Redis; within `API_KEY_CACHE_TTL_MS` if Redis is down).',
  tags: ['api-keys'],
  auth: { scopes: [] },
  request: { params: IdParams },
  responses: { 204: { description: 'The key is revoked' }, ...problemResponses(404) },
});

/** Scoped API keys for programs, managed by their owner. */
export function apiKeyRoutes(deps: Deps) {
  return createRouter()
    .openapi(createApiKeyRoute, async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal');
      const { record, key } = await createApiKey(deps.db, {
        userId: principal.userId,
        name: body.name,
        scopes: body.scopes,
        expiresAt: body.expiresAt === undefined ? undefined : new Date(body.expiresAt),
        allowedScopes: principal.scopes,
        known: deps.scopes,
        now: deps.clock.now(),
      });
      c.header('cache-control', 'no-store');
      return sendJson(c, ApiKeyCreated, { ...toPublicApiKey(record), key }, 201);
    })
    .openapi(listApiKeysRoute, async (c) => {
      const keys = await listApiKeys(deps.db, c.get('principal').userId);
      return sendJson(c, ApiKeyList, { data: keys.map(toPublicApiKey) }, 200);
    })
    .openapi(revokeApiKeyRoute, async (c) => {
      const revoked = await revokeApiKey(
        deps.db,
        c.get('principal').userId,
        c.req.valid('param').id,
        deps.clock.now(),
      );
      await deps.auth.forget({ apiKeyId: revoked.id });
      return c.body(null, 204);
    });
}
