import { and, asc, cosineDistance, desc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { ConflictError, InvalidInputError, NotFoundError } from '../../core/domain-errors.ts';
import { uuidv7 } from '../../core/ids.ts';
import { textProblem } from '../../core/safe-text.ts';
import type { FileStorage } from '../../core/storage/file-storage.ts';
import { aiChunks, aiCollections, aiDocuments, STORED_DIMENSIONS } from './documents.table.ts';
import { type EmbeddingsContext, embeddingsModel, runEmbeddings } from './embeddings.service.ts';
import type { Caller } from './limits.ts';
import type { ModelCatalog } from './models.ts';
import { requireVectorStore, storedVector } from './vector-store.ts';

export type CollectionRecord = typeof aiCollections.$inferSelect;
export type DocumentRecord = typeof aiDocuments.$inferSelect;

export const documentTextKey = (id: string) => `ai-documents/${id}.txt`;

export async function createCollection(
  db: Database,
  catalog: ModelCatalog,
  ownerId: string,
  input: {
    name: string;
    description: string | null;
    model?: string | undefined;
    chunkTokens: number;
    chunkOverlap: number;
  },
): Promise<CollectionRecord> {
  const modelId = input.model ?? catalog.defaultEmbeddings()?.id;
  if (!modelId) {
    throw new InvalidInputError('No embeddings model is configured', [
      {
        path: 'model',
        message: 'the model table has no model of kind embeddings',
        code: 'no_model',
      },
    ]);
  }
  const model = embeddingsModel(catalog, modelId);
  const native = model.dimensions ?? 0;
  if (native > STORED_DIMENSIONS && !model.variableDimensions) {
    throw new InvalidInputError('The model’s vectors are too long to store', [
      {
        path: 'model',
        message: `${model.id} gives ${native} dimensions, more than the ${STORED_DIMENSIONS} stored`,
        code: 'dimensions_too_large',
      },
    ]);
  }
  const [record] = await db
    .insert(aiCollections)
    .values({
      ownerId,
      name: input.name,
      description: input.description,
      model: model.id,
      dimensions: Math.min(native, STORED_DIMENSIONS),
      chunkTokens: input.chunkTokens,
      chunkOverlap: input.chunkOverlap,
    })
    .onConflictDoNothing()
    .returning();
  if (!record) throw new ConflictError(`You have a collection named ${input.name} already`);
  return record;
}

/** The owner's collection; another user's does not exist for them. */
export async function findCollection(
  db: Database,
  ownerId: string,
  id: string,
): Promise<CollectionRecord> {
  const [record] = await db
    .select()
    .from(aiCollections)
    .where(and(eq(aiCollections.id, id), eq(aiCollections.ownerId, ownerId)));
  if (!record) throw new NotFoundError('collection');
  return record;
}

export async function listCollections(db: Database, ownerId: string, limit: number) {
  return db
    .select()
    .from(aiCollections)
    .where(eq(aiCollections.ownerId, ownerId))
    .orderBy(desc(aiCollections.id))
    .limit(limit);
}

/** Deletes a collection, its documents and their chunks (by cascade), and their texts. */
export async function deleteCollection(
  db: Database,
  storage: FileStorage,
  ownerId: string,
  id: string,
): Promise<void> {
  await findCollection(db, ownerId, id);
  const documents = await db
    .select({ id: aiDocuments.id })
    .from(aiDocuments)
    .where(eq(aiDocuments.collectionId, id));
  await db.delete(aiCollections).where(eq(aiCollections.id, id));
  for (const document of documents) await storage.delete(documentTextKey(document.id));
}

/** The text of an upload, or why it cannot be indexed. */
export function documentText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError('The document is not UTF-8 text', [
      { path: 'file', message: 'must be UTF-8 text or Markdown', code: 'invalid_encoding' },
    ]);
  }
  const problem = text.trim() === '' ? { message: 'is empty', code: 'empty' } : textProblem(text);
  if (problem) {
    throw new InvalidInputError('The document cannot be indexed', [
      { path: 'file', message: problem.message, code: problem.code },
    ]);
  }
  return text;
}

/**
 * Stores a document's text and its row: a new one, or (the same name again) a new version of
 * the one there, whose chunks stay searchable until the new version's replace them.
 */
export async function putDocument(
  deps: { db: Database; storage: FileStorage },
  collection: CollectionRecord,
  caller: Caller,
  input: { name: string; contentType: string; text: string },
): Promise<DocumentRecord> {
  const bytes = Buffer.byteLength(input.text);
  const [existing] = await deps.db
    .select()
    .from(aiDocuments)
    .where(and(eq(aiDocuments.collectionId, collection.id), eq(aiDocuments.name, input.name)));
  const id = existing?.id ?? uuidv7();
  await deps.storage.write(
    documentTextKey(id),
    (async function* () {
      yield input.text;
    })(),
  );
  const values = {
    contentType: input.contentType,
    byteSize: bytes,
    status: 'pending' as const,
    userId: caller.userId,
    apiKeyId: caller.apiKeyId ?? null,
    error: null,
    jobId: null,
  };
  const [record] = existing
    ? await deps.db
        .update(aiDocuments)
        .set({ ...values, version: sql`${aiDocuments.version} + 1` })
        .where(eq(aiDocuments.id, id))
        .returning()
    : await deps.db
        .insert(aiDocuments)
        .values({ id, collectionId: collection.id, name: input.name, ...values })
        .returning();
  if (!record) throw new Error('the document was not stored');
  return record;
}

export async function setDocumentJob(db: Database, id: string, jobId: string): Promise<void> {
  await db.update(aiDocuments).set({ jobId }).where(eq(aiDocuments.id, id));
}

export async function listDocuments(db: Database, collectionId: string) {
  return db
    .select()
    .from(aiDocuments)
    .where(eq(aiDocuments.collectionId, collectionId))
    .orderBy(asc(aiDocuments.name))
    .limit(1_000);
}

/** Deletes a document of the collection and its chunks; nothing to do when it is gone. */
export async function deleteDocument(
  deps: { db: Database; storage: FileStorage },
  collectionId: string,
  documentId: string,
): Promise<void> {
  const deleted = await deps.db
    .delete(aiDocuments)
    .where(and(eq(aiDocuments.id, documentId), eq(aiDocuments.collectionId, collectionId)))
    .returning({ id: aiDocuments.id });
  if (deleted.length > 0) await deps.storage.delete(documentTextKey(documentId));
}

// --- Indexing ---------------------------------------------------------------------------------

export async function getDocumentWithCollection(db: Database, id: string) {
  const [row] = await db
    .select({ document: aiDocuments, collection: aiCollections })
    .from(aiDocuments)
    .innerJoin(aiCollections, eq(aiCollections.id, aiDocuments.collectionId))
    .where(eq(aiDocuments.id, id));
  return row;
}

export async function markDocument(
  db: Database,
  id: string,
  version: number,
  change: { status: DocumentRecord['status']; error?: string | null },
): Promise<void> {
  await db
    .update(aiDocuments)
    .set({ status: change.status, error: change.error ?? null })
    .where(and(eq(aiDocuments.id, id), eq(aiDocuments.version, version)));
}

/** Chunks of a version that never went live (a try cut off), and of versions before it. */
export async function dropStaleChunks(db: Database, documentId: string, version: number) {
  await db
    .delete(aiChunks)
    .where(
      and(
        eq(aiChunks.documentId, documentId),
        eq(aiChunks.active, false),
        lte(aiChunks.version, version),
      ),
    );
}

export async function insertChunks(
  db: Database,
  rows: {
    documentId: string;
    collectionId: string;
    version: number;
    seq: number;
    text: string;
    tokens: number;
    embedding: ArrayLike<number>;
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insert(aiChunks)
    .values(rows.map((row) => ({ ...row, id: uuidv7(), embedding: storedVector(row.embedding) })));
}

/**
 * Puts a version's chunks live and takes the old ones away, in one transaction: a search sees
 * the old version or the new one, never neither. False when a newer version came meanwhile.
 */
export async function activateVersion(
  db: Database,
  documentId: string,
  version: number,
  at: Date,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select({ version: aiDocuments.version })
      .from(aiDocuments)
      .where(eq(aiDocuments.id, documentId))
      .for('update');
    if (current?.version !== version) return false;
    await tx
      .delete(aiChunks)
      .where(and(eq(aiChunks.documentId, documentId), eq(aiChunks.active, true)));
    const live = await tx
      .update(aiChunks)
      .set({ active: true })
      .where(and(eq(aiChunks.documentId, documentId), eq(aiChunks.version, version)))
      .returning({ id: aiChunks.id });
    await tx
      .update(aiDocuments)
      .set({ status: 'ready', chunkCount: live.length, indexedAt: at, error: null })
      .where(eq(aiDocuments.id, documentId));
    return true;
  });
}

// --- Search -----------------------------------------------------------------------------------

export interface SearchHit {
  chunkId: string;
  documentId: string;
  documentName: string;
  seq: number;
  score: number;
  text: string;
}

/**
 * The `topK` chunks of the collection closest to `query` (cosine similarity), through the
 * HNSW index; the question is embedded with the collection's model, billed to the caller.
 */
export async function searchCollection(
  ctx: EmbeddingsContext,
  caller: Caller,
  collection: CollectionRecord,
  query: string,
  options: { topK: number; signal: AbortSignal },
): Promise<{ hits: SearchHit[]; promptTokens: number }> {
  await requireVectorStore(ctx.db);
  const embedded = await runEmbeddings(
    ctx,
    caller,
    { model: collection.model, input: [query], dimensions: collection.dimensions },
    { signal: options.signal, cache: 'default' },
  );
  const vector = storedVector(embedded.vectors[0] ?? []);
  const distance = cosineDistance(aiChunks.embedding, vector);
  const rows = await ctx.db.transaction(async (tx) => {
    // The index's candidate list must be longer than the answer, as the collection filters it.
    await tx.execute(
      sql`select set_config('hnsw.ef_search', ${String(Math.max(100, options.topK * 10))}, true)`,
    );
    return tx
      .select({
        id: aiChunks.id,
        documentId: aiChunks.documentId,
        seq: aiChunks.seq,
        text: aiChunks.text,
        distance: sql<number>`${distance}`,
      })
      .from(aiChunks)
      .where(and(eq(aiChunks.collectionId, collection.id), eq(aiChunks.active, true)))
      .orderBy(distance)
      .limit(options.topK);
  });
  const documentIds = [...new Set(rows.map((row) => row.documentId))];
  const names = new Map(
    documentIds.length === 0
      ? []
      : (
          await ctx.db
            .select({ id: aiDocuments.id, name: aiDocuments.name })
            .from(aiDocuments)
            .where(inArray(aiDocuments.id, documentIds))
        ).map((row) => [row.id, row.name]),
  );
  return {
    hits: rows.map((row) => ({
      chunkId: row.id,
      documentId: row.documentId,
      documentName: names.get(row.documentId) ?? '',
      seq: row.seq,
      score: 1 - Number(row.distance),
      text: row.text,
    })),
    promptTokens: embedded.promptTokens,
  };
}
