import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import type { Logger } from '../../core/logger.ts';
import type { FileStorage } from '../../core/storage/file-storage.ts';
import type { ItemFilters } from '../items/items.service.ts';
import { exportsTable } from './exports.table.ts';

export type Export = typeof exportsTable.$inferSelect;
export type ExportFormat = Export['format'];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
};

export function exportFileKey(record: Pick<Export, 'id' | 'format'>): string {
  return `exports/${record.id}.${record.format}`;
}

export async function createExport(
  db: Database,
  input: { ownerId: string; format: ExportFormat; filter: ItemFilters; expiresAt: Date },
): Promise<Export> {
  const [record] = await db.insert(exportsTable).values(input).returning();
  if (!record) throw new Error('insert returned no row');
  return record;
}

export async function setExportJob(db: Database, id: string, jobId: string): Promise<void> {
  await db.update(exportsTable).set({ jobId }).where(eq(exportsTable.id, id));
}

/**
 * How long a pending export may go without a job before the purge takes it for the leftover
 * of a failed creation: far longer than a creation takes (ms, or a few seconds of waiting
 * for Redis), so a row still being created is never removed.
 */
const JOBLESS_GRACE_MS = 3600_000;

/**
 * Creates an export and the job that writes it, as one outcome: both exist, or the error
 * reaches the caller (503 when Redis is unreachable) and no export is left pending.
 *
 * The row is committed before the job is enqueued, so a worker that takes the job at once
 * always finds it; the job id is recorded afterwards (the job never reads it). Were the job
 * enqueued first, or inside the row's transaction, a fast worker could look for the row
 * before it is committed and fail the job for good. When the enqueue fails, the row is
 * deleted again (a compensating action). Should that delete fail too (the database went
 * away as well), the caller still gets the enqueue's error, the row is logged, and it stays
 * invisible to everyone: its id was never handed out, and `purgeExpiredExports` deletes a
 * pending export that has had no job for an hour (decision 009).
 */
export async function createExportWithJob(
  db: Database,
  input: { ownerId: string; format: ExportFormat; filter: ItemFilters; expiresAt: Date },
  enqueue: (record: Export) => Promise<{ id: string }>,
  logger: Logger,
): Promise<{ record: Export; jobId: string }> {
  const record = await createExport(db, input);
  let jobId: string;
  try {
    ({ id: jobId } = await enqueue(record));
  } catch (error) {
    try {
      await db.delete(exportsTable).where(eq(exportsTable.id, record.id));
    } catch (cleanupError) {
      logger.error(
        { err: cleanupError, exportId: record.id },
        'could not delete an export left without a job',
      );
    }
    throw error;
  }
  await setExportJob(db, record.id, jobId);
  return { record, jobId };
}

/** The caller's export, or undefined: another user's export does not exist for them. */
export async function findExport(
  db: Database,
  ownerId: string,
  id: string,
): Promise<Export | undefined> {
  const [record] = await db
    .select()
    .from(exportsTable)
    .where(and(eq(exportsTable.id, id), eq(exportsTable.ownerId, ownerId)));
  return record;
}

export async function getExport(db: Database, id: string): Promise<Export | undefined> {
  const [record] = await db.select().from(exportsTable).where(eq(exportsTable.id, id));
  return record;
}

/** Marks the export ready. Until then its job's state says how it is going (or why it failed). */
export async function finishExport(
  db: Database,
  id: string,
  outcome: { rowCount: number; byteSize: number; at: Date },
): Promise<void> {
  await db
    .update(exportsTable)
    .set({
      status: 'ready',
      rowCount: outcome.rowCount,
      byteSize: outcome.byteSize,
      finishedAt: outcome.at,
    })
    .where(eq(exportsTable.id, id));
}

/**
 * Deletes expired exports and their files, and exports a failed creation left without a job
 * (see `createExportWithJob`); returns how many.
 */
export async function purgeExpiredExports(
  db: Database,
  storage: FileStorage,
  now: Date,
): Promise<number> {
  const jobless = and(
    eq(exportsTable.status, 'pending'),
    isNull(exportsTable.jobId),
    lt(exportsTable.createdAt, new Date(now.getTime() - JOBLESS_GRACE_MS)),
  );
  const expired = await db
    .delete(exportsTable)
    .where(or(lt(exportsTable.expiresAt, now), jobless))
    .returning();
  for (const record of expired) await storage.delete(exportFileKey(record));
  return expired.length;
}
