import { z } from '@hono/zod-openapi';
import { ChatCompletionRequest } from './ai.schemas.ts';

/** Inputs one request may embed, as OpenAI allows. */
export const MAX_EMBEDDING_INPUTS = 2_048;

const Text = z.string().min(1, 'must not be empty: an empty text has no embedding').max(200_000);

export const EmbeddingsRequest = z
  .object({
    model: ChatCompletionRequest.shape.model.openapi({ example: 'dev-local-embed' }),
    input: z.union([Text, z.array(Text).min(1).max(MAX_EMBEDDING_INPUTS)]).openapi({
      description:
        'A text, or a list of texts (up to 2,048), each within the model’s input window. Token arrays are not accepted: the gateway’s guards read text.',
    }),
    encoding_format: z.enum(['float', 'base64']).default('float').openapi({
      description:
        '`float`: arrays of numbers; `base64`: each vector as little-endian float32 bytes in base64 (what OpenAI’s clients ask for, and decode, by default).',
    }),
    dimensions: z.number().int().positive().max(65_536).optional().openapi({
      description:
        'Shorter vectors, for models that allow it (`variableDimensions` in the model table); at most the model’s own length.',
    }),
    user: z.string().max(256).optional(),
  })
  .strict()
  .openapi('EmbeddingsRequest', {
    example: { model: 'dev-local-embed', input: ['The refund window is 30 days.'] },
  });

export type EmbeddingsRequest = z.output<typeof EmbeddingsRequest>;

export const EmbeddingsResponse = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        object: z.literal('embedding'),
        index: z.number().int(),
        embedding: z.union([z.array(z.number()), z.string()]),
      }),
    ),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
  })
  .openapi('EmbeddingsResponse', {
    example: {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.0123, -0.0456, 0.0789] }],
      model: 'dev-local-embed',
      usage: { prompt_tokens: 8, total_tokens: 8 },
    },
  });

export type EmbeddingsResponse = z.output<typeof EmbeddingsResponse>;
