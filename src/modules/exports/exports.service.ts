import { and, eq, lt } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
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

/** Deletes expired exports and their files; returns how many. */
export async function purgeExpiredExports(
  db: Database,
  storage: FileStorage,
  now: Date,
): Promise<number> {
  const expired = await db.delete(exportsTable).where(lt(exportsTable.expiresAt, now)).returning();
  for (const record of expired) await storage.delete(exportFileKey(record));
  return expired.length;
}
