import { z } from '@hono/zod-openapi';
import { ItemListQuery } from '../items/items.schemas.ts';

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
