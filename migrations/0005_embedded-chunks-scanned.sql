-- The embedded database (PGlite, development only) keeps no HNSW index on the chunks. It
-- computes on the API's thread, and each chunk stored went into the index at a cost growing
-- with the collection (WebAssembly): 3,000 chunks took 55 s to index, one statement of 64 rows
-- holding the event loop 2.6 s. Its searches never used the index anyway (no autovacuum, so
-- no statistics: the planner sorts the collection's chunks by exact distance). Without it,
-- 1.8 s, the loop held at most 82 ms, searches as fast. A server keeps its index. Decision 051.
DO $$
BEGIN
  IF version() LIKE '%PGlite%' THEN
    DROP INDEX IF EXISTS "ai_chunks_embedding_idx";
  END IF;
END;
$$;--> statement-breakpoint
CREATE OR REPLACE FUNCTION ai_enable_vector_store() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    RAISE NOTICE 'pgvector is not installed on this server: retrieval stays off';
    RETURN false;
  END IF;
  BEGIN
    CREATE EXTENSION IF NOT EXISTS vector;
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pgvector is installed but this role may not create the extension: retrieval stays off';
    RETURN false;
  END;
  CREATE TABLE IF NOT EXISTS "ai_chunks" (
    "id" uuid PRIMARY KEY NOT NULL,
    "document_id" uuid NOT NULL REFERENCES "public"."ai_documents"("id") ON DELETE cascade,
    "collection_id" uuid NOT NULL,
    "version" integer NOT NULL,
    "active" boolean DEFAULT false NOT NULL,
    "seq" integer NOT NULL,
    "text" text NOT NULL,
    "tokens" integer NOT NULL,
    "embedding" vector(1536) NOT NULL
  ) WITH (fillfactor = 50);
  CREATE INDEX IF NOT EXISTS "ai_chunks_document_idx" ON "ai_chunks" USING btree ("document_id", "version");
  CREATE INDEX IF NOT EXISTS "ai_chunks_collection_idx" ON "ai_chunks" USING btree ("collection_id");
  -- Not on the embedded database: see the top of this file.
  IF version() NOT LIKE '%PGlite%' THEN
    CREATE INDEX IF NOT EXISTS "ai_chunks_embedding_idx" ON "ai_chunks" USING hnsw ("embedding" vector_cosine_ops);
  END IF;
  RETURN true;
END;
$$;
