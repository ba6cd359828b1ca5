import {
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, instant } from '../../core/db/columns.ts';
import { apiKeys } from '../api-keys/api-keys.table.ts';
import { users } from '../users/users.table.ts';

export const aiBatchStatus = pgEnum('ai_batch_status', [
  /** Validated and stored; its job has not started. */
  'queued',
  'running',
  /** Cancelled while queued or running: the job stops taking lines and writes the files. */
  'cancelling',
  /** Every line ran (some may have failed); the files are written. */
  'completed',
  /** Stopped on request; the lines done are kept (and billed), the others listed as errors. */
  'cancelled',
  /** Stopped early, the budget used up; the files say which lines ran. */
  'failed',
]);

/**
 * A batch of chat completions from an uploaded JSONL file (OpenAI's Batch API lines), run by
 * a job. The file stays in storage until the batch is finished; then the results and errors
 * files are written there, and the per-line rows go.
 */
export const aiBatches = pgTable(
  'ai_batches',
  {
    id: idColumn(),
    ownerId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The key the batch was sent with: its lines count against that key's limits. */
    apiKeyId: uuid().references(() => apiKeys.id, { onDelete: 'set null' }),
    status: aiBatchStatus().notNull().default('queued'),
    jobId: text(),
    /** Requests in the file (lines that are not blank). */
    totalLines: integer().notNull(),
    completedLines: integer().notNull().default(0),
    failedLines: integer().notNull().default(0),
    inputTokens: integer().notNull().default(0),
    cachedInputTokens: integer().notNull().default(0),
    outputTokens: integer().notNull().default(0),
    /** US dollars, exact: the sum of its lines. */
    cost: numeric({ precision: 24, scale: 12 }).notNull().default('0'),
    /** Why it failed, for `failed`. */
    error: text(),
    createdAt: instant().notNull().defaultNow(),
    startedAt: instant(),
    cancelRequestedAt: instant(),
    finishedAt: instant(),
  },
  (table) => [index('ai_batches_owner_idx').on(table.ownerId, table.id)],
);

export const aiBatchLineState = pgEnum('ai_batch_line_state', ['running', 'succeeded', 'failed']);

/**
 * A line of a running batch, written before its request goes upstream (`running`) and again
 * when it ends: a worker that takes the batch over after another died skips every line that
 * has a row, so no line is sent twice. Deleted once the batch's files are written.
 */
export const aiBatchLines = pgTable(
  'ai_batch_lines',
  {
    batchId: uuid()
      .notNull()
      .references(() => aiBatches.id, { onDelete: 'cascade' }),
    /** The line's number in the file, from 1. */
    line: integer().notNull(),
    customId: text().notNull(),
    state: aiBatchLineState().notNull(),
    /** The HTTP status the line's request got (200 for a result). */
    statusCode: smallint(),
    /** The chat completion, for `succeeded`. */
    response: jsonb(),
    /** `{ code, message }`, for `failed`. */
    error: jsonb(),
    requestId: text(),
    inputTokens: integer().notNull().default(0),
    cachedInputTokens: integer().notNull().default(0),
    outputTokens: integer().notNull().default(0),
    cost: numeric({ precision: 24, scale: 12 }).notNull().default('0'),
    attempts: smallint().notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.batchId, table.line] }),
    uniqueIndex('ai_batch_lines_custom_id_key').on(table.batchId, table.customId),
  ],
);
