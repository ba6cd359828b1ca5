CREATE TYPE "public"."ai_batch_line_state" AS ENUM('running', 'succeeded', 'failed');--> statement-breakpoint
CREATE TYPE "public"."ai_batch_status" AS ENUM('queued', 'running', 'cancelling', 'completed', 'cancelled', 'failed');--> statement-breakpoint
CREATE TYPE "public"."ai_document_status" AS ENUM('pending', 'indexing', 'ready', 'failed');--> statement-breakpoint
CREATE TABLE "ai_batch_lines" (
	"batch_id" uuid NOT NULL,
	"line" integer NOT NULL,
	"custom_id" text NOT NULL,
	"state" "ai_batch_line_state" NOT NULL,
	"status_code" smallint,
	"response" jsonb,
	"error" jsonb,
	"request_id" text,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"cached_input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"cost" numeric(24, 12) DEFAULT '0' NOT NULL,
	"attempts" smallint DEFAULT 0 NOT NULL,
	CONSTRAINT "ai_batch_lines_batch_id_line_pk" PRIMARY KEY("batch_id","line")
);
--> statement-breakpoint
CREATE TABLE "ai_batches" (
	"id" uuid PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"api_key_id" uuid,
	"status" "ai_batch_status" DEFAULT 'queued' NOT NULL,
	"job_id" text,
	"total_lines" integer NOT NULL,
	"completed_lines" integer DEFAULT 0 NOT NULL,
	"failed_lines" integer DEFAULT 0 NOT NULL,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"cached_input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"cost" numeric(24, 12) DEFAULT '0' NOT NULL,
	"error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp (3) with time zone,
	"cancel_requested_at" timestamp (3) with time zone,
	"finished_at" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "ai_collections" (
	"id" uuid PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"model" text NOT NULL,
	"dimensions" integer NOT NULL,
	"chunk_tokens" integer NOT NULL,
	"chunk_overlap" integer NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ai_documents" (
	"id" uuid PRIMARY KEY NOT NULL,
	"collection_id" uuid NOT NULL,
	"name" text NOT NULL,
	"content_type" text NOT NULL,
	"byte_size" integer NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"status" "ai_document_status" DEFAULT 'pending' NOT NULL,
	"chunk_count" integer DEFAULT 0 NOT NULL,
	"user_id" uuid NOT NULL,
	"api_key_id" uuid,
	"job_id" text,
	"error" text,
	"indexed_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "ai_batch_lines" ADD CONSTRAINT "ai_batch_lines_batch_id_ai_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."ai_batches"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_batches" ADD CONSTRAINT "ai_batches_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_batches" ADD CONSTRAINT "ai_batches_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_collections" ADD CONSTRAINT "ai_collections_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_documents" ADD CONSTRAINT "ai_documents_collection_id_ai_collections_id_fk" FOREIGN KEY ("collection_id") REFERENCES "public"."ai_collections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_documents" ADD CONSTRAINT "ai_documents_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_documents" ADD CONSTRAINT "ai_documents_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "ai_batch_lines_custom_id_key" ON "ai_batch_lines" USING btree ("batch_id","custom_id");--> statement-breakpoint
CREATE INDEX "ai_batches_owner_idx" ON "ai_batches" USING btree ("owner_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "ai_collections_owner_name_key" ON "ai_collections" USING btree ("owner_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "ai_documents_collection_name_key" ON "ai_documents" USING btree ("collection_id","name");--> statement-breakpoint
-- The vector store (decision 025): pgvector's extension and the chunks table with its HNSW
-- index, only where the server has the extension. Without it every other table is made, the
-- service starts and retrieval answers 503; once the extension is installed, calling this
-- function again (as the schema's owner) makes the store. It is idempotent.
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
  );
  CREATE INDEX IF NOT EXISTS "ai_chunks_document_idx" ON "ai_chunks" USING btree ("document_id", "version");
  CREATE INDEX IF NOT EXISTS "ai_chunks_collection_idx" ON "ai_chunks" USING btree ("collection_id");
  CREATE INDEX IF NOT EXISTS "ai_chunks_embedding_idx" ON "ai_chunks" USING hnsw ("embedding" vector_cosine_ops);
  RETURN true;
END;
$$;--> statement-breakpoint
SELECT ai_enable_vector_store();
