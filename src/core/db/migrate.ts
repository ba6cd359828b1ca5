import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations', import.meta.url));

/** Both drivers and `drizzle.config.ts` share one casing rule. */
export const DB_CASING = 'snake_case';

/** Any fixed number works; it only has to be the same in every process of this service. */
const MIGRATION_LOCK_ID = 7_262_118;

/**
 * Applies pending migrations from `migrations/` to the PostgreSQL database at `url`.
 * Several processes may start at once, so they queue on an advisory lock held by one
 * dedicated connection, and each later one finds the work done.
 *
 * @example
 * await migratePostgres(settings.DATABASE_URL);
 */
export async function migratePostgres(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await migrate(drizzle({ client, casing: DB_CASING }), { migrationsFolder: MIGRATIONS_FOLDER });
    await client`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}
