import type { Database } from './database.ts';

/**
 * Prepares a statement once per database and hands the same one back after that: building
 * a drizzle query costs more CPU than PostgreSQL takes to answer a primary-key lookup, so
 * hot paths must not rebuild theirs on every call. Transactions are databases too, and get
 * their own.
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
      prepared.set(db, statement);
    }
    return statement;
  };
}
