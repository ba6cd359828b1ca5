import { z } from '@hono/zod-openapi';
import { PageQuery } from '../../core/pagination.ts';

const EXAMPLE_LINE =
  '{"custom_id":"request-1","method":"POST","url":"/v1/chat/completions","body":{"model":"dev-local-echo","messages":[{"role":"user","content":"Summarise keyset pagination."}]}}\n';

export const BatchUpload = z
  .object({
    file: z
      .instanceof(File, {
        error: (issue) =>
          issue.input === undefined
            ? 'no file in the multipart field `file`: send the JSONL file as multipart/form-data (`curl -F file=@batch.jsonl`)'
            : 'must be a file upload, not text',
      })
      .openapi({
        type: 'string',
        format: 'binary',
        description:
          'JSONL, one request a line in OpenAI’s Batch API shape: `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {…}}`. Every line is checked before anything runs; up to 50,000 lines.',
      }),
  })
  .openapi('AiBatchUpload', { example: { file: EXAMPLE_LINE } });

/**
 * The same file as the request's body itself (`application/jsonl` or `application/x-ndjson`):
 * read line by line as it arrives, never held whole. A plain schema, not zod's: the body is
 * not parsed before the handler reads it.
 */
export const BatchFileBody = {
  type: 'string',
  description:
    'JSONL, one request a line in OpenAI’s Batch API shape, streamed as the body (`curl -H "Content-Type: application/jsonl" --data-binary @batch.jsonl`): checked line by line as it arrives, never held whole; up to 50,000 lines and `UPLOAD_MAX_BYTES`.',
  example: EXAMPLE_LINE,
} as const;

const exampleBatch = {
  id: '0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f',
  object: 'batch' as const,
  endpoint: '/v1/chat/completions' as const,
  status: 'running' as const,
  jobId: '0193a5b0-7e31-7c3a-9d4e-5f6a7b8c9d10',
  requestCounts: { total: 1000, completed: 420, failed: 3 },
  usage: {
    inputTokens: 52_000,
    cachedInputTokens: 0,
    outputTokens: 31_000,
    cost: '0.026400000000',
  },
  error: null,
  createdAt: new Date('2026-11-30T12:00:00Z'),
  startedAt: new Date('2026-11-30T12:00:01Z'),
  finishedAt: null,
  results: '/v1/ai/batches/0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f/results',
  errors: '/v1/ai/batches/0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f/errors',
};

export const Batch = z
  .object({
    id: z.uuid(),
    object: z.literal('batch'),
    endpoint: z.literal('/v1/chat/completions'),
    status: z
      .enum(['queued', 'running', 'cancelling', 'completed', 'cancelled', 'failed'])
      .openapi({
        description:
          '`completed`: every line ran (each succeeded or failed); `cancelled`: stopped on request, the lines done are kept (and billed); `failed`: stopped early (`error` says why). The files can be downloaded once it is one of these three.',
      }),
    jobId: z.string().nullable().openapi({
      description: 'The job running it: progress live at `/v1/jobs/{jobId}/events`.',
    }),
    requestCounts: z.object({
      total: z.number().int(),
      completed: z.number().int(),
      failed: z.number().int(),
    }),
    usage: z.object({
      inputTokens: z.number().int(),
      cachedInputTokens: z.number().int(),
      outputTokens: z.number().int(),
      cost: z.string().openapi({ description: 'US dollars, exact: the sum of its lines.' }),
    }),
    error: z.string().nullable(),
    createdAt: z.date(),
    startedAt: z.date().nullable(),
    finishedAt: z.date().nullable(),
    results: z.string().openapi({ description: 'Where the results file is, once finished.' }),
    errors: z.string().openapi({ description: 'Where the errors file is, once finished.' }),
  })
  .openapi('AiBatch', { example: exampleBatch });

export type Batch = z.output<typeof Batch>;

export const BatchList = z
  .object({ data: z.array(Batch) })
  .openapi('AiBatchList', { example: { data: [exampleBatch] } });

/** The list's `limit` (core's, as every list has it); batches are listed newest first. */
export const BatchListQuery = z.object({
  limit: PageQuery.shape.limit.openapi({ description: 'How many, newest first.' }),
});

/** A results or errors file, streamed. */
export const BatchFileText = z.string().openapi({
  example:
    '{"id":"batch_req_1","custom_id":"request-1","response":{"status_code":200,"request_id":"req_1","body":{"id":"chatcmpl-1","object":"chat.completion"}},"error":null}\n',
});
