import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { idColumn, instant } from '../../core/db/columns.ts';
import { users } from '../users/users.table.ts';

/** API keys: only a SHA-256 hash of the key is stored; the key is shown once. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: idColumn(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    /** The first characters of the key, enough for a person to tell keys apart. */
    prefix: text().notNull(),
    keyHash: text().notNull().unique('api_keys_key_hash_key'),
    scopes: text().array().notNull(),
    expiresAt: instant(),
    lastUsedAt: instant(),
    revokedAt: instant(),
    createdAt: instant().notNull().defaultNow(),
  },
  (table) => [index().on(table.userId)],
);
