import { is } from 'drizzle-orm';
import { PgPreparedQuery } from 'drizzle-orm/pg-core';
import type { Database } from './database.ts';
import { executeDirectly } from './direct-execute.ts';

/**
 * Prepares a statement once per database and hands the same one back after that: building
 * a drizzle query costs more CPU than PostgreSQL takes to answer a primary-key lookup, so
 * hot paths must not rebuild theirs on every call. Transactions are databases too, and get
 * their own. A drizzle prepared statement is run without drizzle's per-call layers where
 * they do nothing for it (`executeDirectly`).
 *
 * @example
 * const byId = preparedPerDatabase((db) => db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare('user_by_id'));
 * const [user] = await byId(db).execute({ id });
 */
export function preparedPerDatabase<T>(prepare: (db: Database) => T): (db: Database) => T {
  const prepared = new WeakMap<Database, T>();
  return (db) => {
    let statement = prepared.get(db);
    if (!statement) {
      statement = prepare(db);
      if (is(statement, PgPreparedQuery)) executeDirectly(statement);
      prepared.set(db, statement);
    }
    return statement;
  };
}
