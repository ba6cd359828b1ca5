import { integer, jsonb, pgEnum, pgTable, uuid } from 'drizzle-orm/pg-core';
import { idColumn, instant } from '../../core/db/columns.ts';
import { users } from '../users/users.table.ts';

export const exportFormat = pgEnum('export_format', ['csv', 'ndjson']);
export const exportStatus = pgEnum('export_status', ['pending', 'ready']);

/** An export of a user's items: the job that writes it, and the stored file once done. */
export const exportsTable = pgTable('exports', {
  id: idColumn(),
  ownerId: uuid()
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  jobId: uuid(),
  format: exportFormat().notNull(),
  filter: jsonb().notNull(),
  status: exportStatus().notNull().default('pending'),
  rowCount: integer(),
  byteSize: integer(),
  createdAt: instant().notNull().defaultNow(),
  finishedAt: instant(),
  expiresAt: instant().notNull(),
});
