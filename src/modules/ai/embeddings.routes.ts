import { z } from '@hono/zod-openapi';
import type { Deps } from '../../core/deps.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { aiContextOf } from './ai-context.ts';
import { vectorBytes } from './embedding-cache.ts';
import { EmbeddingsRequest, EmbeddingsResponse } from './embeddings.schemas.ts';
import { type EmbeddingCacheMode, runEmbeddings } from './embeddings.service.ts';
import { callerOf } from './limits.ts';

const EmbeddingCacheHeaders = z.object({
  'cache-control': z.string().max(200).optional().openapi({
    description:
      '`no-cache`: embed again (the fresh vectors are stored); `no-store`: neither read nor store.',
  }),
  'x-ai-cache': z.enum(['use', 'skip']).optional().openapi({
    description:
      'Vectors are cached per text by default (a model gives one text one vector); `skip` never reads or stores them.',
  }),
});

export const embeddingsRoute = defineRoute({
  method: 'post',
  path: '/v1/embeddings',
  operationId: 'createEmbeddings',
  summary: 'Create embeddings (OpenAI-compatible)',
  description:
    'OpenAI’s request and answer shapes: a text or a list of texts in, one vector per text out, as numbers or base64 (`encoding_format`). The same limits, budgets, guards and accounting as chat completions; each text’s vector is cached, so a text sent again is not billed again (`x-ai-cache`). Models are those of kind `embeddings` in GET /v1/models; without an upstream, `dev-local-embed` gives deterministic vectors in which texts that share words are closer.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  timeoutMs: 5 * 60_000,
  request: {
    headers: EmbeddingCacheHeaders,
    body: { content: { 'application/json': { schema: EmbeddingsRequest } }, required: true },
  },
  responses: {
    200: jsonResponse(EmbeddingsResponse, 'One vector per input, in order'),
    ...problemResponses(402, 404, 502),
  },
});

function cacheModeOf(
  cacheControl: string | undefined,
  aiCache: 'use' | 'skip' | undefined,
): EmbeddingCacheMode {
  const directives = (cacheControl ?? '').toLowerCase();
  if (aiCache === 'skip' || directives.includes('no-store')) return 'bypass';
  return directives.includes('no-cache') ? 'refresh' : 'default';
}

/** Seven significant digits: what a float32 holds, without a double's trailing noise. */
function rounded(vector: Float32Array): number[] {
  return Array.from(vector, (value) => Number(value.toPrecision(7)));
}

/** `POST /v1/embeddings`, OpenAI's embeddings endpoint through the gateway. */
export function embeddingRoutes(deps: Deps) {
  const ai = aiContextOf(deps);
  return createRouter().openapi(embeddingsRoute, async (c) => {
    const body = c.req.valid('json');
    const headers = c.req.valid('header');
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    const embedded = await runEmbeddings(
      ai,
      callerOf(c.get('principal')),
      { model: body.model, input, dimensions: body.dimensions },
      {
        signal: c.req.raw.signal,
        cache: cacheModeOf(headers['cache-control'], headers['x-ai-cache']),
        recordInBackground: (write) =>
          deps.background.run('record an AI call', write, c.get('logger')),
      },
    );
    for (const [name, value] of Object.entries(embedded.headers)) c.header(name, value);
    const base64 = body.encoding_format === 'base64';
    return sendJson(
      c,
      EmbeddingsResponse,
      {
        object: 'list',
        data: embedded.vectors.map((vector, index) => ({
          object: 'embedding' as const,
          index,
          embedding: base64 ? vectorBytes(vector).toString('base64') : rounded(vector),
        })),
        model: embedded.model.id,
        usage: { prompt_tokens: embedded.promptTokens, total_tokens: embedded.promptTokens },
      },
      200,
    );
  });
}
