import { IdParams } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { isScope } from '../../core/security/scopes.ts';
import type { Deps } from '../../deps.ts';
import { ApiKeyCreate, ApiKeyCreated, ApiKeyList } from './api-keys.schemas.ts';
import { type ApiKey, createApiKey, listApiKeys, revokeApiKey } from './api-keys.service.ts';

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
  responses: { 201: jsonResponse(ApiKeyCreated, 'The key, shown this once') },
});

export const listApiKeysRoute = defineRoute({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  summary: 'List your API keys',
  tags: ['api-keys'],
  auth: { scopes: [] },
  responses: { 200: jsonResponse(ApiKeyList, 'Your keys that are not revoked, newest first') },
});

export const revokeApiKeyRoute = defineRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  summary: 'Revoke an API key',
  description: 'Every API process refuses the key within `API_KEY_CACHE_TTL_MS` (5 s by default).',
  tags: ['api-keys'],
  auth: { scopes: [] },
  request: { params: IdParams },
  responses: { 204: { description: 'The key is revoked' }, ...problemResponses(404) },
});

function toPublicApiKey(key: ApiKey) {
  const { id, name, prefix, scopes, expiresAt, lastUsedAt, createdAt } = key;
  return { id, name, prefix, scopes, expiresAt, lastUsedAt, createdAt };
}

/** Scoped API keys for programs, managed by their owner. */
export function apiKeyRoutes(deps: Deps) {
  return createRouter()
    .openapi(createApiKeyRoute, async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal');
      const expiresAt = body.expiresAt === undefined ? undefined : new Date(body.expiresAt);
      if (expiresAt && expiresAt <= deps.clock.now()) {
        throw new ProblemError(422, {
          detail: 'The expiry is in the past',
          extensions: {
            errors: [
              {
                location: 'body',
                path: 'expiresAt',
                message: 'must be in the future',
                code: 'too_small',
              },
            ],
          },
        });
      }
      const { record, key } = await createApiKey(deps.db, {
        userId: principal.userId,
        name: body.name,
        scopes: body.scopes.filter(isScope),
        expiresAt,
        allowedScopes: principal.scopes,
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
      if (!revoked) throw new ProblemError(404, { detail: 'No such API key' });
      return c.body(null, 204);
    });
}
