import { integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { instant } from '../db/columns.ts';

/**
 * The first response to each `Idempotency-Key`, per caller, so a retry replays it. The row
 * is written in the same transaction as the work it records: both happen, or neither.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    ownerId: uuid().notNull(),
    key: text().notNull(),
    /** Which operation and body the key was first used with. */
    requestHash: text().notNull(),
    status: integer(),
    body: jsonb(),
    location: text(),
    createdAt: instant().notNull().defaultNow(),
    expiresAt: instant().notNull(),
  },
  (table) => [primaryKey({ columns: [table.ownerId, table.key] })],
);
