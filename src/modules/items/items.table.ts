import { sql } from 'drizzle-orm';
import {
  index,
  integer,
  numeric,
  pgEnum,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../core/db/columns.ts';
import { users } from '../users/users.table.ts';

export const itemStatus = pgEnum('item_status', ['draft', 'active', 'archived']);

export const items = pgTable(
  'items',
  {
    id: idColumn(),
    ownerId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    description: text(),
    /** Exact decimal; drizzle reads it as a string, and it stays one all the way to JSON. */
    price: numeric({ precision: 12, scale: 2 }).notNull(),
    tags: text().array().notNull().default(sql`'{}'::text[]`),
    status: itemStatus().notNull().default('active'),
    /** Bumped by every update; the ETag, and the `If-Match` check, are built on it. */
    version: integer().notNull().default(1),
    ...timestamps(),
  },
  (table) => [
    uniqueIndex('items_owner_name_key').on(table.ownerId, table.name),
    // One index per sort order, each ending in the id tie-breaker, for keyset pages.
    index('items_owner_created_idx').on(table.ownerId, table.createdAt, table.id),
    index('items_owner_price_idx').on(table.ownerId, table.price, table.id),
    index('items_tags_idx').using('gin', table.tags),
  ],
);
