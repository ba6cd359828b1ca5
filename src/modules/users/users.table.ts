import { sql } from 'drizzle-orm';
import { boolean, pgEnum, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../core/db/columns.ts';

export const userRole = pgEnum('user_role', ['user', 'admin']);

export const users = pgTable(
  'users',
  {
    id: idColumn(),
    email: text().notNull(),
    passwordHash: text().notNull(),
    name: text().notNull(),
    isActive: boolean().notNull().default(true),
    role: userRole().notNull().default('user'),
    ...timestamps(),
  },
  // Unique without regard to case: Ada@Example.com and ada@example.com are one account.
  (table) => [uniqueIndex('users_email_lower_key').on(sql`lower(${table.email})`)],
);
