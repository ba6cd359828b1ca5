import { z } from '@hono/zod-openapi';
import type { Deps } from '../../core/deps.ts';
import { NotFoundError } from '../../core/domain-errors.ts';
import { IdParams } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { generateExport } from './exports.jobs.ts';
import { ExportAccepted, ExportCreate } from './exports.schemas.ts';
import {
  createExportWithJob,
  EXPORT_CONTENT_TYPES,
  exportFileKey,
  findExport,
} from './exports.service.ts';

const EXPORT_TTL_MS = 7 * 24 * 3600 * 1000;

export const createExportRoute = defineRoute({
  method: 'post',
  path: '/v1/exports',
  operationId: 'createExport',
  rateLimit: { name: 'exports', limit: 10, windowSeconds: 60 },
  summary: 'Export your items (a background job)',
  description:
    "202 with `Location` of the job: follow it at `/v1/jobs/{id}/events`, then download the file from `download`. In CSV, a cell that would start a spreadsheet formula (`=`, `+`, `-`, `@`, tab, CR) is written with a leading `'`; `POST /v1/imports` takes it away again.",
  tags: ['exports'],
  auth: { scopes: ['items:read'] },
  request: { body: { content: { 'application/json': { schema: ExportCreate } }, required: true } },
  responses: {
    202: {
      ...jsonResponse(ExportAccepted, 'The export is queued'),
      headers: locationHeader('The job that writes it'),
    },
  },
});

export const downloadExportRoute = defineRoute({
  method: 'get',
  path: '/v1/exports/{id}/download',
  operationId: 'downloadExport',
  summary: 'Download a finished export',
  description:
    'The file of a finished export of yours, streamed as CSV or NDJSON (as asked when it was created) with `Content-Disposition: attachment`. 409 while its job has not finished, or when it failed.',
  tags: ['exports'],
  auth: { scopes: ['items:read'] },
  request: { params: IdParams },
  responses: {
    200: {
      description: 'The file, streamed',
      content: {
        'text/csv': {
          schema: z.string().openapi({
            example: 'id,name,description,price,tags,status,version,createdAt,updatedAt\r\n',
          }),
        },
        'application/x-ndjson': {
          schema: z.string().openapi({
            example: '{"id":"0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e","name":"Watering can"}\n',
          }),
        },
      },
    },
    ...problemResponses(404, 409),
  },
});

/** Exports of the caller's items, written by a worker, downloadable from any API process. */
export function exportRoutes(deps: Deps) {
  return createRouter()
    .openapi(createExportRoute, async (c) => {
      const { format, filter } = c.req.valid('json');
      const ownerId = c.get('principal').userId;
      const { record, jobId } = await createExportWithJob(
        deps.db,
        {
          ownerId,
          format,
          filter,
          expiresAt: new Date(deps.clock.now().getTime() + EXPORT_TTL_MS),
        },
        (created) =>
          deps.jobs.enqueue(
            generateExport,
            { exportId: created.id },
            { ownerId, requestId: c.get('requestId') },
          ),
        c.get('logger'),
      );
      c.header('location', `/v1/jobs/${jobId}`);
      return sendJson(
        c,
        ExportAccepted,
        {
          id: record.id,
          jobId,
          status: record.status,
          download: `/v1/exports/${record.id}/download`,
        },
        202,
      );
    })
    .openapi(downloadExportRoute, async (c) => {
      const record = await findExport(deps.db, c.get('principal').userId, c.req.valid('param').id);
      if (!record) throw new NotFoundError('export');
      if (record.status !== 'ready') {
        const job = record.jobId ? await deps.jobs.get(record.jobId) : undefined;
        throw new ProblemError(409, {
          detail:
            job?.state === 'failed'
              ? `The export failed: ${job.error ?? 'unknown error'}`
              : 'The export is not ready yet; follow its job',
          ...(record.jobId ? { extensions: { jobId: record.jobId } } : {}),
        });
      }
      const day = record.createdAt.toISOString().slice(0, 10);
      c.header('content-type', EXPORT_CONTENT_TYPES[record.format]);
      c.header('content-disposition', `attachment; filename="items-${day}.${record.format}"`);
      if (record.byteSize !== null) c.header('content-length', String(record.byteSize));
      // Streamed from storage chunk by chunk: the file is never whole in memory.
      return c.body(ReadableStream.from(deps.storage.read(exportFileKey(record))), 200);
    });
}
