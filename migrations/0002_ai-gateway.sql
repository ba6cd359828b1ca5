CREATE TYPE "public"."ai_budget_period" AS ENUM('day', 'month');--> statement-breakpoint
CREATE TYPE "public"."ai_budget_subject" AS ENUM('user', 'api_key');--> statement-breakpoint
CREATE TYPE "public"."ai_call_status" AS ENUM('ok', 'fallback', 'error', 'cancelled', 'blocked');--> statement-breakpoint
CREATE TABLE "ai_budgets" (
	"id" uuid PRIMARY KEY NOT NULL,
	"subject_type" "ai_budget_subject" NOT NULL,
	"subject_id" uuid NOT NULL,
	"period" "ai_budget_period" NOT NULL,
	"limit_usd" numeric(14, 6) NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ai_calls" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"api_key_id" uuid,
	"operation" text NOT NULL,
	"model" text NOT NULL,
	"upstream_model" text,
	"stream" boolean NOT NULL,
	"status" "ai_call_status" NOT NULL,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"cached_input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"usage_estimated" boolean DEFAULT false NOT NULL,
	"cost" numeric(24, 12) DEFAULT '0' NOT NULL,
	"latency_ms" integer NOT NULL,
	"time_to_first_token_ms" integer,
	"finish_reason" text,
	"cache_hit" boolean DEFAULT false NOT NULL,
	"upstream_request_id" text,
	"error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ai_prompt_templates" (
	"id" uuid PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"model" text NOT NULL,
	"messages" jsonb NOT NULL,
	"variables" jsonb NOT NULL,
	"output_schema" jsonb,
	"temperature" numeric(3, 2),
	"max_tokens" integer,
	"truncation" text DEFAULT 'disabled' NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "ai_calls" ADD CONSTRAINT "ai_calls_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_calls" ADD CONSTRAINT "ai_calls_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_prompt_templates" ADD CONSTRAINT "ai_prompt_templates_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ai_budgets_subject_idx" ON "ai_budgets" USING btree ("subject_type","subject_id");--> statement-breakpoint
CREATE INDEX "ai_calls_user_created_idx" ON "ai_calls" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "ai_calls_key_created_idx" ON "ai_calls" USING btree ("api_key_id","created_at");--> statement-breakpoint
CREATE INDEX "ai_calls_created_idx" ON "ai_calls" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "ai_prompt_templates_owner_name_version_key" ON "ai_prompt_templates" USING btree ("owner_id","name","version");