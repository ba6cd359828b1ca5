import { customType, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'bytea' });

/** The database storage driver's files, in numbered chunks of a few hundred kilobytes. */
export const storedChunks = pgTable(
  'stored_chunks',
  {
    key: text().notNull(),
    seq: integer().notNull(),
    data: bytea().notNull(),
  },
  (table) => [primaryKey({ columns: [table.key, table.seq] })],
);
