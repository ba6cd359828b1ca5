import { sql } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { VectorStoreUnavailableError } from './ai-errors.ts';
import { STORED_DIMENSIONS } from './documents.table.ts';

const known = new WeakMap<Database, { available: boolean; at: number }>();
/** A store found missing is looked for again after this long: the extension may come. */
const RECHECK_MS = 60_000;

/**
 * Whether this database has the vector store: the pgvector extension and the chunks table
 * the migration makes only where it exists (decision 025). Asked once per database, then
 * remembered (a missing one is asked again now and then).
 */
export async function hasVectorStore(db: Database): Promise<boolean> {
  const cached = known.get(db);
  if (cached && (cached.available || Date.now() - cached.at < RECHECK_MS)) return cached.available;
  const [row] = await db
    .select({
      present: sql<boolean>`to_regclass('ai_chunks') is not null and exists (select 1 from pg_extension where extname = 'vector')`,
    })
    .from(sql`(select 1) as probe`);
  const available = row?.present === true;
  known.set(db, { available, at: Date.now() });
  return available;
}

/** Throws `VectorStoreUnavailableError` (503) where there is no vector store. */
export async function requireVectorStore(db: Database): Promise<void> {
  if (!(await hasVectorStore(db))) throw new VectorStoreUnavailableError();
}

/** A vector as stored: zero-padded to the column's length, which leaves every cosine as it was. */
export function storedVector(vector: ArrayLike<number>): number[] {
  const stored = new Array<number>(STORED_DIMENSIONS).fill(0);
  for (let index = 0; index < Math.min(vector.length, STORED_DIMENSIONS); index++)
    stored[index] = vector[index] ?? 0;
  return stored;
}
