import {
  boolean,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, instant, timestamps } from '../../core/db/columns.ts';
import { apiKeys } from '../api-keys/api-keys.table.ts';
import { users } from '../users/users.table.ts';

export const aiCallStatus = pgEnum('ai_call_status', [
  /** Answered in full by a model. */
  'ok',
  /** Answered by the configured fallback answer: every model failed. */
  'fallback',
  /** The upstream failed and nothing was answered. */
  'error',
  /** The client left (or the gateway stopped) before the answer was complete. */
  'cancelled',
  /** A guard refused the input or the output. */
  'blocked',
]);

/**
 * Every call through the gateway, as it happened: who, which model, the tokens and what they
 * cost (an exact decimal, in US dollars), how long it took and how it ended. Streamed,
 * failed and cut-off calls are recorded too; tokens counted by the gateway's tokenizer
 * (when the upstream sent no usage) are marked `usage_estimated`.
 */
export const aiCalls = pgTable(
  'ai_calls',
  {
    id: idColumn(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The API key the call came with; null for a bearer token. */
    apiKeyId: uuid().references(() => apiKeys.id, { onDelete: 'set null' }),
    operation: text().notNull(),
    /** The model the client asked for, as the gateway names it. */
    model: text().notNull(),
    /** The model that answered, as the upstream names it (after any fallback). */
    upstreamModel: text(),
    stream: boolean().notNull(),
    status: aiCallStatus().notNull(),
    inputTokens: integer().notNull().default(0),
    cachedInputTokens: integer().notNull().default(0),
    outputTokens: integer().notNull().default(0),
    usageEstimated: boolean().notNull().default(false),
    /** US dollars, exact: prices per million tokens have at most 6 decimals. */
    cost: numeric({ precision: 24, scale: 12 }).notNull().default('0'),
    latencyMs: integer().notNull(),
    timeToFirstTokenMs: integer(),
    finishReason: text(),
    cacheHit: boolean().notNull().default(false),
    upstreamRequestId: text(),
    /** What went wrong, in words, for `error` and `blocked` (never the prompt). */
    error: text(),
    createdAt: instant().notNull().defaultNow(),
  },
  (table) => [
    index('ai_calls_user_created_idx').on(table.userId, table.createdAt),
    index('ai_calls_key_created_idx').on(table.apiKeyId, table.createdAt),
    index('ai_calls_created_idx').on(table.createdAt),
  ],
);

export const aiBudgetSubject = pgEnum('ai_budget_subject', ['user', 'api_key']);
export const aiBudgetPeriod = pgEnum('ai_budget_period', ['day', 'month']);

/**
 * A spend limit on a user or an API key over a calendar period (UTC). A subject may have
 * several (a daily and a monthly one, say): every one of them must allow a call.
 */
export const aiBudgets = pgTable(
  'ai_budgets',
  {
    id: idColumn(),
    subjectType: aiBudgetSubject().notNull(),
    subjectId: uuid().notNull(),
    period: aiBudgetPeriod().notNull(),
    /** US dollars. */
    limitUsd: numeric({ precision: 14, scale: 6 }).notNull(),
    ...timestamps(),
  },
  (table) => [index('ai_budgets_subject_idx').on(table.subjectType, table.subjectId)],
);

/**
 * Prompt templates, versioned: a new version is a new row, and a call names a version or
 * takes the latest. Messages hold `{{variable}}` placeholders; `variables` is the JSON Schema
 * of what a call must give, and `outputSchema` (when set) the JSON Schema the answer must fit.
 */
export const aiPromptTemplates = pgTable(
  'ai_prompt_templates',
  {
    id: idColumn(),
    ownerId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    version: integer().notNull(),
    model: text().notNull(),
    messages: jsonb().notNull(),
    variables: jsonb().notNull(),
    outputSchema: jsonb(),
    temperature: numeric({ precision: 3, scale: 2 }),
    maxTokens: integer(),
    /** Over the model's window: `disabled` refuses, `auto` drops the oldest turns. */
    truncation: text().notNull().default('disabled'),
    createdAt: instant().notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('ai_prompt_templates_owner_name_version_key').on(
      table.ownerId,
      table.name,
      table.version,
    ),
  ],
);
