-- Chunks are written once and then activated (`active = true`) when their version goes live.
-- With pages left half free, that update stays on the page (a HOT update): no index, the HNSW
-- one included, is touched. With full pages every activated row went into the HNSW index
-- again: 0.7 s for 600 chunks on the embedded database, holding its one thread. Decision 038.
ALTER TABLE IF EXISTS "ai_chunks" SET (fillfactor = 50);--> statement-breakpoint
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
  CREATE INDEX IF NOT EXISTS "ai_chunks_embedding_idx" ON "ai_chunks" USING hnsw ("embedding" vector_cosine_ops);
  RETURN true;
END;
$$;
