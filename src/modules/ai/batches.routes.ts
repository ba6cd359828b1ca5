import type { Deps } from '../../core/deps.ts';
import { IdParams } from '../../core/ids.ts';
import { readMultipartFile } from '../../core/multipart-file.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { invalidInput, toFieldErrors } from '../../core/validation.ts';
import { aiContextOf } from './ai-context.ts';
import { runBatch } from './batches.jobs.ts';
import {
  Batch,
  BatchFileBody,
  BatchFileText,
  BatchList,
  BatchListQuery,
  BatchUpload,
} from './batches.schemas.ts';
import {
  batchErrorsKey,
  batchResultsKey,
  createBatch,
  findBatch,
  isFinished,
  listBatches,
  requestCancel,
  toPublicBatch,
} from './batches.service.ts';
import { callerOf } from './limits.ts';

const DESCRIPTION =
  'A JSONL file of chat completion requests in OpenAI’s Batch API shape, run by a worker: every line is checked first (a malformed line is a 422 naming its line number, and nothing runs), then the lines run a few at a time within your key’s tokens per minute and budgets, each retried on passing upstream failures. Follow it at `/v1/jobs/{jobId}/events`; once it has ended, the results and errors files (JSONL, matched to the input by `custom_id`, one line per input line between them) can be downloaded.\n\nSend the file as the body itself (`Content-Type: application/jsonl` or `application/x-ndjson`): it is checked and stored as it arrives, so a file of any length up to `UPLOAD_MAX_BYTES` is never held in memory. A multipart form with the file in `file` (as OpenAI’s clients upload one) is read as it arrives too.';

/** The media types of a batch file sent as the body itself, read as it streams. */
const JSON_LINES = ['application/jsonl', 'application/x-ndjson'];

const AiBatchUploadRef = { $ref: '#/components/schemas/AiBatchUpload' } as const;

export const createBatchRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/batches',
  operationId: 'createAiBatch',
  rateLimit: { name: 'ai-batches', limit: 10, windowSeconds: 60 },
  summary: 'Run a batch of chat completions (a background job)',
  description: DESCRIPTION,
  tags: ['ai'],
  auth: { scopes: ['ai:batch'] },
  // A large file is checked line by line as it is stored.
  timeoutMs: 5 * 60_000,
  request: {
    body: {
      // No schema here is zod's, so nothing reads the body before the handler: a JSON Lines
      // body is streamed into storage, a form parsed and checked (`uploadedFile`) by it.
      content: {
        'multipart/form-data': {
          schema: AiBatchUploadRef,
          encoding: { file: { contentType: 'application/jsonl' } },
        },
        'application/jsonl': { schema: BatchFileBody },
        'application/x-ndjson': { schema: BatchFileBody },
      },
      required: true,
    },
  },
  responses: {
    202: {
      ...jsonResponse(Batch, 'The batch, queued'),
      headers: locationHeader('The batch’s URL'),
    },
  },
});

export const listBatchesRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/batches',
  operationId: 'listAiBatches',
  summary: 'Your batches',
  description: 'Your batches, newest first, with their progress and usage.',
  tags: ['ai'],
  auth: { scopes: ['ai:batch'] },
  request: { query: BatchListQuery },
  responses: { 200: jsonResponse(BatchList, 'The batches, newest first') },
});

export const getBatchRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/batches/{id}',
  operationId: 'getAiBatch',
  summary: 'A batch: its state, progress and usage',
  description:
    'Lines completed and failed so far, tokens and exact cost (the sum of its lines, once it has ended).',
  tags: ['ai'],
  auth: { scopes: ['ai:batch'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(Batch, 'The batch'), ...problemResponses(404) },
});

export const cancelBatchRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/batches/{id}/cancel',
  operationId: 'cancelAiBatch',
  summary: 'Cancel a batch',
  description:
    'It takes no new line; lines already done are kept (and billed), and the lines that never ran are listed in the errors file as `batch_cancelled`. The batch is `cancelling` until its job has written the files, then `cancelled`. Cancelling a batch that has ended changes nothing.',
  tags: ['ai'],
  auth: { scopes: ['ai:batch'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(Batch, 'The batch, cancelling'), ...problemResponses(404) },
});

function fileRoute(which: 'results' | 'errors') {
  return defineRoute({
    method: 'get',
    path: `/v1/ai/batches/{id}/${which}`,
    operationId: which === 'results' ? 'downloadAiBatchResults' : 'downloadAiBatchErrors',
    summary:
      which === 'results'
        ? 'Download a batch’s results (JSONL)'
        : 'Download a batch’s errors (JSONL)',
    description:
      which === 'results'
        ? 'One line per request that succeeded, in input order: `{"id", "custom_id", "response": {"status_code": 200, "request_id", "body": <chat completion>}, "error": null}`. Streamed. 409 until the batch has ended.'
        : 'One line per request that failed or never ran, in input order: a request the model refused has `response` with its status and OpenAI’s error body; one that never ran (cancelled, budget used up, interrupted) has `response: null` and `error: {code, message}`. Streamed. 409 until the batch has ended.',
    tags: ['ai'],
    auth: { scopes: ['ai:batch'] },
    request: { params: IdParams },
    responses: {
      200: {
        description: 'The file, streamed',
        content: { 'application/x-ndjson': { schema: BatchFileText } },
      },
      ...problemResponses(404, 409),
    },
  });
}

export const batchResultsRoute = fileRoute('results');
export const batchErrorsRoute = fileRoute('errors');

/** The request's body itself as the file, read as it arrives. */
function streamedFile(request: Request): AsyncIterable<Uint8Array> {
  const body = request.body;
  if (!body) return (async function* () {})();
  // Not cancelled when the check stops early: the answer must still reach a client sending.
  return body.values({ preventCancel: true });
}

/**
 * The file of a multipart upload, read as it arrives like the body itself; a form without it
 * (or with text in its place) is the 422 every form gets.
 */
async function uploadedFile(request: Request): Promise<AsyncIterable<Uint8Array>> {
  const form = await readMultipartFile(request, 'file');
  if (form.found === 'file') return form.chunks;
  const parsed = BatchUpload.safeParse(form.found === 'text' ? { file: 'text' } : {});
  if (parsed.success) throw new Error('a form without a file passed the upload schema');
  throw invalidInput(toFieldErrors('body', parsed.error));
}

/** Batches: a JSONL file in, a job, and its results and errors files out. */
export function batchRoutes(deps: Deps) {
  const ai = aiContextOf(deps);
  const download = async (
    ownerId: string,
    id: string,
    which: 'results' | 'errors',
  ): Promise<ReadableStream<Uint8Array>> => {
    const batch = await findBatch(deps.db, ownerId, id);
    if (!isFinished(batch)) {
      throw new ProblemError(409, {
        detail: `The batch is ${batch.status}; its files are written once it has ended. Follow its job`,
        ...(batch.jobId ? { extensions: { jobId: batch.jobId } } : {}),
      });
    }
    const key = which === 'results' ? batchResultsKey(id) : batchErrorsKey(id);
    return ReadableStream.from(deps.storage.read(key));
  };
  const router = createRouter();
  // The form's schema, for the document: the route names it by reference (see above).
  router.openAPIRegistry.register('AiBatchUpload', BatchUpload);
  return router
    .openapi(createBatchRoute, async (c) => {
      const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
      const file = JSON_LINES.includes(type)
        ? streamedFile(c.req.raw)
        : await uploadedFile(c.req.raw);
      const principal = c.get('principal');
      const caller = callerOf(principal);
      const batch = await createBatch(
        deps,
        {
          ownerId: caller.userId,
          apiKeyId: caller.apiKeyId,
          file,
          catalog: ai.catalog,
          maxLines: deps.settings.AI_BATCH_MAX_LINES,
        },
        (batchId) =>
          deps.jobs.enqueue(
            runBatch,
            { batchId },
            { ownerId: caller.userId, requestId: c.get('requestId') },
          ),
      );
      c.header('location', `/v1/ai/batches/${batch.id}`);
      return sendJson(c, Batch, await toPublicBatch(deps.db, batch), 202);
    })
    .openapi(listBatchesRoute, async (c) => {
      const batches = await listBatches(
        deps.db,
        c.get('principal').userId,
        c.req.valid('query').limit,
      );
      const data = await Promise.all(batches.map((batch) => toPublicBatch(deps.db, batch)));
      return sendJson(c, BatchList, { data }, 200);
    })
    .openapi(getBatchRoute, async (c) => {
      const batch = await findBatch(deps.db, c.get('principal').userId, c.req.valid('param').id);
      return sendJson(c, Batch, await toPublicBatch(deps.db, batch), 200);
    })
    .openapi(cancelBatchRoute, async (c) => {
      const batch = await requestCancel(
        deps.db,
        c.get('principal').userId,
        c.req.valid('param').id,
        deps.clock.now(),
      );
      return sendJson(c, Batch, await toPublicBatch(deps.db, batch), 200);
    })
    .openapi(batchResultsRoute, async (c) => {
      const body = await download(c.get('principal').userId, c.req.valid('param').id, 'results');
      c.header('content-type', 'application/x-ndjson');
      return c.body(body, 200);
    })
    .openapi(batchErrorsRoute, async (c) => {
      const body = await download(c.get('principal').userId, c.req.valid('param').id, 'errors');
      c.header('content-type', 'application/x-ndjson');
      return c.body(body, 200);
    });
}
