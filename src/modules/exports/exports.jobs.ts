import { z } from '@hono/zod-openapi';
import { csvLine } from '../../core/csv.ts';
import type { Deps } from '../../core/deps.ts';
import { defineJob, type JobContext, PermanentJobError } from '../../core/jobs/define-job.ts';

import {
  countItems,
  eachItem,
  type Item,
  type ItemFilters,
  toPublicItem,
} from '../items/items.service.ts';
import { type ExportFormat, exportFileKey, finishExport, getExport } from './exports.service.ts';

export const CSV_COLUMNS = [
  'id',
  'name',
  'description',
  'price',
  'tags',
  'status',
  'version',
  'createdAt',
  'updatedAt',
] as const;

function formatItem(item: Item, format: ExportFormat): string {
  const visible = toPublicItem(item);
  if (format === 'ndjson') return `${JSON.stringify(visible)}\n`;
  return csvLine([
    visible.id,
    visible.name,
    visible.description ?? '',
    visible.price,
    visible.tags.join(';'),
    visible.status,
    String(visible.version),
    visible.createdAt.toISOString(),
    visible.updatedAt.toISOString(),
  ]);
}

/**
 * Writes a user's items, as CSV or NDJSON, into file storage, page by page: the worked
 * example of a long job with progress. Safe to run again: the file is rewritten whole.
 */
export const generateExport = defineJob({
  name: 'exports.generate',
  input: z.object({ exportId: z.uuid() }),
  attempts: 3,
  timeoutMs: 10 * 60_000,
  concurrency: 2,
  async run({ exportId }, { deps, progress, signal, logger }: JobContext<Deps>) {
    const record = await getExport(deps.db, exportId);
    if (!record) throw new PermanentJobError(`Export ${exportId} does not exist`);
    const filters = record.filter as ItemFilters;
    const total = await countItems(deps.db, record.ownerId, filters);
    let rows = 0;
    const { bytes } = await deps.storage.write(
      exportFileKey(record),
      (async function* () {
        if (record.format === 'csv') yield csvLine(CSV_COLUMNS);
        for await (const page of eachItem(deps.db, record.ownerId, filters)) {
          signal.throwIfAborted();
          yield page.map((item) => formatItem(item, record.format)).join('');
          rows += page.length;
          await progress(total === 0 ? 100 : (rows / total) * 100);
        }
      })(),
    );
    await finishExport(deps.db, exportId, {
      rowCount: rows,
      byteSize: bytes,
      at: deps.clock.now(),
    });
    logger.info({ exportId, rows, bytes }, 'export written');
    return { exportId, rows, bytes };
  },
});
