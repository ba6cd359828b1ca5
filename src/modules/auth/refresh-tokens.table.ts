import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { idColumn, instant } from '../../core/db/columns.ts';
import { users } from '../users/users.table.ts';

/**
 * Opaque refresh tokens, stored as SHA-256 hashes. Each login starts a family; each
 * refresh marks its token used and issues the next one in the same family, so a used
 * token presented again reveals a theft and revokes the whole family.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: idColumn(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    familyId: uuid().notNull(),
    tokenHash: text().notNull().unique('refresh_tokens_token_hash_key'),
    scope: text().notNull(),
    expiresAt: instant().notNull(),
    usedAt: instant(),
    revokedAt: instant(),
    createdAt: instant().notNull().defaultNow(),
  },
  (table) => [index().on(table.familyId), index().on(table.userId), index().on(table.expiresAt)],
);
