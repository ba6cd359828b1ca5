import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Settings } from '../settings.ts';
import { lockDataDirectory } from './data-dir-lock.ts';
import { DB_CASING, MIGRATIONS_FOLDER, migratePostgres } from './migrate.ts';
import { declareQuerySpecies } from './query-species.ts';
import { TEXT_ARRAY_TYPE } from './text-array.ts';

/**
 * The one database type every query is written against: drizzle over postgres.js, drizzle
 * over PGlite and a transaction opened on either all satisfy it, so service functions take
 * it and run the same code on each.
 */
export type Database = PgDatabase<PgQueryResultHKT>;

export interface DatabaseHandle {
  db: Database;
  kind: 'postgres' | 'embedded';
  /** Answers when the database can run a query. */
  ping(): Promise<void>;
  /** Applies pending migrations from `migrations/`. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url: string | undefined;
  poolMax: Settings['DATABASE_POOL_MAX'];
  dataDir: Settings['DATA_DIR'];
  /** `transaction`: `url` is a transaction-mode pooler (PgBouncer); see `DATABASE_POOLER`. */
  pooler?: Settings['DATABASE_POOLER'] | undefined;
  /** PostgreSQL itself, bypassing the pooler, for migrations: `DATABASE_DIRECT_URL`. */
  directUrl?: Settings['DATABASE_DIRECT_URL'] | undefined;
}

/** The options the settings give, for a pool of `poolMax` connections. */
export function databaseOptions(
  settings: Settings,
  poolMax: Settings['DATABASE_POOL_MAX'],
): DatabaseOptions {
  return {
    url: settings.DATABASE_URL,
    poolMax,
    pooler: settings.DATABASE_POOLER,
    directUrl: settings.DATABASE_DIRECT_URL,
    dataDir: settings.DATA_DIR,
  };
}

/** Migrations were asked of a transaction-mode pooler, which cannot hold their lock. */
export class MigrationNeedsDirectUrlError extends Error {
  constructor() {
    super(
      'DATABASE_DIRECT_URL: migrations hold a session lock, which a transaction-mode pooler (DATABASE_POOLER=transaction) cannot keep; set DATABASE_DIRECT_URL to PostgreSQL itself (or a session-mode pool)',
    );
    this.name = 'MigrationNeedsDirectUrlError';
  }
}

/**
 * Opens PostgreSQL at `url`, or an embedded PGlite database under `dataDir` when there is
 * no URL. PGlite is imported only then, so the production start-up never pays for it.
 */
export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) return openPostgres(options.url, options);
  return openEmbedded(options.dataDir);
}

function openPostgres(url: string, options: DatabaseOptions): DatabaseHandle {
  // Behind a transaction-mode pooler, consecutive statements of one connection may run on
  // different server connections, so a statement prepared under a name on one is missing
  // on the next. Unprepared, postgres.js sends every query as an unnamed statement (parse,
  // bind and execute together, with one more round trip first to learn the parameters'
  // types), and drizzle's `.prepare('name')` only caches the SQL text: nothing named is left
  // on the server. The cost on the hot reads is measured in decision 033.
  const pooled = options.pooler === 'transaction';
  const client = postgres(url, {
    max: options.poolMax,
    prepare: !pooled,
    connect_timeout: 5,
    // Seconds a connection waits before reconnecting after a failed attempt. postgres.js
    // grows it with every failure of the pool, up to 20 s: in an outage queries then sit
    // waiting (past any request timeout) instead of failing, and after it they wait that
    // long to see the database back. Capped at 1 s, with jitter.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(2 ** retries / 20, 1),
    idle_timeout: 30,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    // No lookup of array types on each new connection: drizzle writes arrays as literals and
    // parses the ones it reads, so the lookup only cost a round trip per connection, and
    // postgres.js dropped its promise, so a reset during it ended the process
    // (porsager/postgres#1192, #1223). Decision 068.
    fetch_types: false,
    // Arrays of text read (and written) by our own reader: drizzle's drops backslashes
    // (decision 106).
    types: { textArray: TEXT_ARRAY_TYPE },
    connection: { application_name: 'hono-service-template' },
  });
  declareQuerySpecies(client);
  return {
    db: drizzlePostgres({ client, casing: DB_CASING }),
    kind: 'postgres',
    ping: () => client`select 1`.then(() => undefined),
    // The lock that keeps two migrating processes apart is a session lock: it needs
    // PostgreSQL itself (or a session-mode pool), never a transaction-mode pooler.
    migrate: async () => {
      if (options.directUrl) return migratePostgres(options.directUrl);
      if (pooled) throw new MigrationNeedsDirectUrlError();
      return migratePostgres(url);
    },
    close: () => client.end({ timeout: 5 }),
  };
}

async function openEmbedded(dataDir: string): Promise<DatabaseHandle> {
  const [{ PGlite }, { vector }, { drizzle }, { migrate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  const directory = join(dataDir, 'pglite');
  await mkdir(directory, { recursive: true });
  const unlock = await lockDataDirectory(`${directory}.lock`, 'DATA_DIR');
  let client: Awaited<ReturnType<typeof PGlite.create>>;
  try {
    // pgvector ships with the embedded database, so vector search works with no setup.
    client = await PGlite.create(directory, { extensions: { vector } });
  } catch (error) {
    await unlock();
    throw error;
  }
  const db = drizzle({ client, casing: DB_CASING });
  return {
    db,
    kind: 'embedded',
    ping: () => client.query('select 1').then(() => undefined),
    // PGlite serves one process, so no lock is needed around its migrations.
    migrate: () => migrate(db, { migrationsFolder: MIGRATIONS_FOLDER }),
    close: () => client.close().finally(unlock),
  };
}
