import { z } from '@hono/zod-openapi';
import { uuidv7 } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Deps } from '../../deps.ts';
import { importItems } from './imports.jobs.ts';

const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/plain']);

const Upload = z
  .object({
    file: z.instanceof(File).openapi({
      type: 'string',
      format: 'binary',
      description:
        'A CSV file with a header row: name, price, and optionally description, tags (separated by ;), status.',
    }),
  })
  .openapi('ItemImportUpload', {
    example: { file: 'name,price,tags\nWatering can,24.50,garden;tools\n' },
  });

export const ImportAccepted = z
  .object({ jobId: z.uuid() })
  .openapi('ImportAccepted', { example: { jobId: '0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f' } });

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

/** Uploads are kept in file storage until the import job has read them. */
export function importRoutes(deps: Deps) {
  return createRouter().openapi(createImportRoute, async (c) => {
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
