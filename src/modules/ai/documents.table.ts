import {
  boolean,
  index,
  integer,
  pgEnum,
  pgTable,
  text,
  uniqueIndex,
  uuid,
  vector,
} from 'drizzle-orm/pg-core';
import { idColumn, instant, timestamps } from '../../core/db/columns.ts';
import { apiKeys } from '../api-keys/api-keys.table.ts';
import { users } from '../users/users.table.ts';

/**
 * The length of every stored vector. A model with shorter vectors is stored zero-padded, which
 * leaves every cosine unchanged; a longer one is asked for this many (`dimensions`). 1,536 is
 * OpenAI's small model's own length, under pgvector's limit of 2,000 for an HNSW index.
 */
export const STORED_DIMENSIONS = 1_536;

/** A user's set of documents, searched together, embedded with one model. */
export const aiCollections = pgTable(
  'ai_collections',
  {
    id: idColumn(),
    ownerId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    description: text(),
    /** The embeddings model, as the gateway names it: its documents and questions alike. */
    model: text().notNull(),
    /** The vectors' length the model gives (before padding). */
    dimensions: integer().notNull(),
    chunkTokens: integer().notNull(),
    chunkOverlap: integer().notNull(),
    ...timestamps(),
  },
  (table) => [uniqueIndex('ai_collections_owner_name_key').on(table.ownerId, table.name)],
);

export const aiDocumentStatus = pgEnum('ai_document_status', [
  'pending',
  'indexing',
  'ready',
  'failed',
]);

/**
 * A text or Markdown document of a collection. Its text is in file storage; its chunks and
 * their vectors in `ai_chunks`. Uploading the same name again replaces it (a new `version`),
 * and its chunks with it once the new ones are indexed.
 */
export const aiDocuments = pgTable(
  'ai_documents',
  {
    id: idColumn(),
    collectionId: uuid()
      .notNull()
      .references(() => aiCollections.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    contentType: text().notNull(),
    byteSize: integer().notNull(),
    version: integer().notNull().default(1),
    status: aiDocumentStatus().notNull().default('pending'),
    chunkCount: integer().notNull().default(0),
    /** Who uploaded it: its indexing is billed to them (and the key they used). */
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    apiKeyId: uuid().references(() => apiKeys.id, { onDelete: 'set null' }),
    jobId: text(),
    error: text(),
    indexedAt: instant(),
    ...timestamps(),
  },
  (table) => [uniqueIndex('ai_documents_collection_name_key').on(table.collectionId, table.name)],
);

/**
 * Chunks of documents and their vectors: pgvector's `vector` type, with an HNSW index for
 * cosine distance. Created by the migration only where the extension exists (decision 025):
 * a server without it has no such table, and retrieval answers 503.
 */
export const aiChunks = pgTable(
  'ai_chunks',
  {
    id: idColumn(),
    documentId: uuid()
      .notNull()
      .references(() => aiDocuments.id, { onDelete: 'cascade' }),
    /** Denormalised from the document, so a search filters on the chunk alone. */
    collectionId: uuid().notNull(),
    /** The document's version it was cut from; false until the whole version is indexed. */
    version: integer().notNull(),
    active: boolean().notNull().default(false),
    /** Its place in the document, from 0. */
    seq: integer().notNull(),
    text: text().notNull(),
    tokens: integer().notNull(),
    embedding: vector({ dimensions: STORED_DIMENSIONS }).notNull(),
  },
  (table) => [
    index('ai_chunks_document_idx').on(table.documentId, table.version),
    index('ai_chunks_collection_idx').on(table.collectionId),
    index('ai_chunks_embedding_idx').using('hnsw', table.embedding.op('vector_cosine_ops')),
  ],
);
