import { z } from '@hono/zod-openapi';
import { IdParams } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Deps } from '../../deps.ts';
import { ItemListQuery } from '../items/items.schemas.ts';
import { generateExport } from './exports.jobs.ts';
import {
  createExport,
  EXPORT_CONTENT_TYPES,
  exportFileKey,
  findExport,
  setExportJob,
} from './exports.service.ts';

const EXPORT_TTL_MS = 7 * 24 * 3600 * 1000;

export const ExportCreate = z
  .object({
    format: z.enum(['csv', 'ndjson']),
    filter: ItemListQuery.pick({ q: true, tag: true, status: true, minPrice: true, maxPrice: true })
      .strict()
      .default({}),
  })
  .strict()
  .openapi('ExportCreate', { example: { format: 'csv', filter: { tag: 'garden' } } });

export const ExportAccepted = z
  .object({
    id: z.uuid(),
    jobId: z.uuid(),
    status: z.enum(['pending', 'ready']),
    download: z
      .string()
      .openapi({ description: 'Where the file will be, once the job completes.' }),
  })
  .openapi('ExportAccepted', {
    example: {
      id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
      jobId: '0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f',
      status: 'pending',
      download: '/v1/exports/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e/download',
    },
  });

export const createExportRoute = defineRoute({
  method: 'post',
  path: '/v1/exports',
  operationId: 'createExport',
  rateLimit: { name: 'exports', limit: 10, windowSeconds: 60 },
  summary: 'Export your items (a background job)',
  description:
    '202 with `Location` of the job: follow it at `/v1/jobs/{id}/events`, then download the file from `download`.',
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
      const record = await createExport(deps.db, {
        ownerId,
        format,
        filter,
        expiresAt: new Date(deps.clock.now().getTime() + EXPORT_TTL_MS),
      });
      const { id: jobId } = await deps.jobs.enqueue(
        generateExport,
        { exportId: record.id },
        { ownerId, requestId: c.get('requestId') },
      );
      await setExportJob(deps.db, record.id, jobId);
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
      if (!record) throw new ProblemError(404, { detail: 'No such export' });
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
