import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../core/app-env.ts';
import type { Deps } from '../../core/deps.ts';
import { uuidv7 } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { importItems } from './imports.jobs.ts';
import { HOW_TO_UPLOAD, ImportAccepted, Upload } from './imports.schemas.ts';

const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/plain']);

export const createImportRoute = defineRoute({
  method: 'post',
  path: '/v1/imports',
  operationId: 'createImport',
  rateLimit: { name: 'imports', limit: 10, windowSeconds: 60 },
  summary: 'Import items from a CSV file (a background job)',
  description:
    'A multipart upload with one `file`. 202 with `Location` of the job, whose result lists the rows inserted and each rejected row with its line number and reason. A malformed file fails the job and inserts nothing.',
  tags: ['imports'],
  auth: { scopes: ['items:write'] },
  request: { body: { content: { 'multipart/form-data': { schema: Upload } }, required: true } },
  responses: {
    202: {
      ...jsonResponse(ImportAccepted, 'The import is queued'),
      headers: locationHeader('The job that reads it'),
    },
  },
});

function isCsv(file: File): boolean {
  const type = file.type.split(';')[0]?.trim().toLowerCase() ?? '';
  // curl and some clients send any file as octet-stream; then the name decides.
  return (
    CSV_TYPES.has(type) ||
    ((type === '' || type === 'application/octet-stream') && /\.csv$/i.test(file.name))
  );
}

/**
 * The shared check answers a body that is not multipart/form-data with a 415 naming that
 * type; an upload also needs its field's name, so the answer says how to send one. (After
 * the route's own middleware: a caller who may not import learns nothing of it.)
 */
const explainUpload: MiddlewareHandler<AppEnv> = async function explainUpload(c, next) {
  await next();
  const sent = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase() || undefined;
  if (c.error instanceof ProblemError && c.error.status === 415 && sent !== 'multipart/form-data') {
    throw new ProblemError(415, {
      detail: `To import items, ${HOW_TO_UPLOAD}; this request was sent as ${sent ?? 'no type at all'}`,
      ...(c.error.init.headers ? { headers: c.error.init.headers } : {}),
    });
  }
};

/** Uploads are kept in file storage until the import job has read them. */
export function importRoutes(deps: Deps) {
  const router = createRouter();
  router.use(createImportRoute.path, explainUpload);
  return router.openapi(createImportRoute, async (c) => {
    const { file } = c.req.valid('form');
    if (!isCsv(file)) {
      throw new ProblemError(415, {
        detail: `Upload a CSV file (text/csv), not ${file.type || 'an untyped file'}`,
      });
    }
    const uploadKey = `imports/${uuidv7()}.csv`;
    await deps.storage.write(uploadKey, file.stream());
    const ownerId = c.get('principal').userId;
    const { id: jobId } = await deps.jobs.enqueue(
      importItems,
      { uploadKey },
      { ownerId, requestId: c.get('requestId') },
    );
    c.header('location', `/v1/jobs/${jobId}`);
    return sendJson(c, ImportAccepted, { jobId }, 202);
  });
}
