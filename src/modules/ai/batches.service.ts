import { and, asc, desc, eq, gt, gte, inArray, lte, sql } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { InvalidInputError, NotFoundError } from '../../core/domain-errors.ts';
import { uuidv7 } from '../../core/ids.ts';
import type { Logger } from '../../core/logger.ts';
import type { FileStorage } from '../../core/storage/file-storage.ts';
import { BatchFileCheck, type FileLine, LineTooLongError, linesOf } from './batch-file.ts';
import type { Batch } from './batches.schemas.ts';
import { aiBatches, aiBatchLines } from './batches.table.ts';
import type { ModelCatalog } from './models.ts';
import { formatPicodollars } from './pricing.ts';

export type BatchRecord = typeof aiBatches.$inferSelect;
export type BatchLineRecord = typeof aiBatchLines.$inferSelect;

const FINAL = new Set<BatchRecord['status']>(['completed', 'cancelled', 'failed']);

export const isFinished = (batch: Pick<BatchRecord, 'status'>) => FINAL.has(batch.status);

export const batchInputKey = (id: string) => `ai-batches/${id}/input.jsonl`;
export const batchResultsKey = (id: string) => `ai-batches/${id}/results.jsonl`;
export const batchErrorsKey = (id: string) => `ai-batches/${id}/errors.jsonl`;

/**
 * Stores an uploaded batch file while checking it line by line as it streams by: a file
 * with a malformed line (or a repeated `custom_id`, an unknown model...) is refused with the
 * line numbers before anything is stored for good or sent upstream. Returns the requests it
 * holds.
 */
async function storeCheckedFile(
  storage: FileStorage,
  key: string,
  chunks: AsyncIterable<Uint8Array>,
  check: BatchFileCheck,
): Promise<number> {
  const refused = new Error('the file has invalid lines');
  try {
    await storage.write(
      key,
      (async function* () {
        // The bytes go on as they came; the lines are read from a copy of each chunk.
        const passing: Uint8Array[] = [];
        const lines = linesOf(
          (async function* () {
            for await (const chunk of chunks) {
              passing.push(chunk);
              yield chunk;
            }
          })(),
        );
        for await (const line of lines) {
          check.check(line);
          if (check.full) throw refused;
          yield* passing.splice(0);
        }
        yield* passing.splice(0);
        if (check.problems.length > 0) throw refused;
      })(),
    );
  } catch (error) {
    if (error instanceof LineTooLongError) {
      check.problems.push({ line: error.line, message: error.message });
    } else if (error !== refused) {
      throw error;
    }
  }
  if (check.problems.length > 0 || check.requests === 0) {
    const problems =
      check.requests === 0 ? [{ line: 1, message: 'the file holds no request' }] : check.problems;
    throw new InvalidInputError(
      `The batch file has ${problems.length}${check.full ? ' or more' : ''} invalid line${problems.length === 1 ? '' : 's'}; nothing was run`,
      problems.map((problem) => ({
        path: 'file',
        message: `line ${problem.line}: ${problem.message}`,
        code: 'invalid_batch_line',
      })),
    );
  }
  return check.requests;
}

/**
 * Creates a batch from an uploaded file and the job that runs it, as one outcome: the file
 * is checked and stored, the row committed, then the job enqueued (a worker taking it at
 * once finds the row); should the enqueue fail, the row and the file go again (decision 009).
 */
export async function createBatch(
  deps: { db: Database; storage: FileStorage; logger: Logger },
  input: {
    ownerId: string;
    apiKeyId: string | undefined;
    file: AsyncIterable<Uint8Array>;
    catalog: ModelCatalog;
    maxLines: number;
  },
  enqueue: (batchId: string) => Promise<{ id: string }>,
): Promise<BatchRecord> {
  const id = uuidv7();
  const key = batchInputKey(id);
  const check = new BatchFileCheck(input.catalog, input.maxLines);
  const totalLines = await storeCheckedFile(deps.storage, key, input.file, check);
  const [record] = await deps.db
    .insert(aiBatches)
    .values({ id, ownerId: input.ownerId, apiKeyId: input.apiKeyId ?? null, totalLines })
    .returning();
  if (!record) throw new Error('insert returned no row');
  let jobId: string;
  try {
    ({ id: jobId } = await enqueue(id));
  } catch (error) {
    try {
      await deps.db.delete(aiBatches).where(eq(aiBatches.id, id));
      await deps.storage.delete(key);
    } catch (cleanupError) {
      deps.logger.error(
        { err: cleanupError, batchId: id },
        'could not delete a batch left without a job',
      );
    }
    throw error;
  }
  await deps.db.update(aiBatches).set({ jobId }).where(eq(aiBatches.id, id));
  return { ...record, jobId };
}

/** The owner's batch; another user's does not exist for them. */
export async function findBatch(db: Database, ownerId: string, id: string): Promise<BatchRecord> {
  const [record] = await db
    .select()
    .from(aiBatches)
    .where(and(eq(aiBatches.id, id), eq(aiBatches.ownerId, ownerId)));
  if (!record) throw new NotFoundError('batch');
  return record;
}

export async function getBatchRecord(db: Database, id: string): Promise<BatchRecord | undefined> {
  const [record] = await db.select().from(aiBatches).where(eq(aiBatches.id, id));
  return record;
}

export async function listBatches(
  db: Database,
  ownerId: string,
  limit: number,
): Promise<BatchRecord[]> {
  return db
    .select()
    .from(aiBatches)
    .where(eq(aiBatches.ownerId, ownerId))
    .orderBy(desc(aiBatches.id))
    .limit(limit);
}

/**
 * Asks a batch to stop: a queued one never starts its lines, a running one stops taking new
 * ones; its job then writes the files. Lines already done are kept, and billed.
 */
export async function requestCancel(db: Database, ownerId: string, id: string, now: Date) {
  const batch = await findBatch(db, ownerId, id);
  if (isFinished(batch) || batch.status === 'cancelling') return batch;
  const [updated] = await db
    .update(aiBatches)
    .set({ status: 'cancelling', cancelRequestedAt: now })
    .where(and(eq(aiBatches.id, id), inArray(aiBatches.status, ['queued', 'running'])))
    .returning();
  return updated ?? (await findBatch(db, ownerId, id));
}

/** Lines finished so far, while the batch runs (its row holds them once it has ended). */
async function liveCounts(db: Database, batchId: string) {
  const rows = await db
    .select({ state: aiBatchLines.state, count: sql<number>`count(*)::int` })
    .from(aiBatchLines)
    .where(eq(aiBatchLines.batchId, batchId))
    .groupBy(aiBatchLines.state);
  const of = (state: BatchLineRecord['state']) =>
    rows.find((row) => row.state === state)?.count ?? 0;
  return { completed: of('succeeded'), failed: of('failed') };
}

/** A batch as its owner sees it. */
export async function toPublicBatch(db: Database, batch: BatchRecord): Promise<Batch> {
  const counts = isFinished(batch)
    ? { completed: batch.completedLines, failed: batch.failedLines }
    : await liveCounts(db, batch.id);
  return {
    id: batch.id,
    object: 'batch',
    endpoint: '/v1/chat/completions',
    status: batch.status,
    jobId: batch.jobId,
    requestCounts: { total: batch.totalLines, ...counts },
    usage: {
      inputTokens: batch.inputTokens,
      cachedInputTokens: batch.cachedInputTokens,
      outputTokens: batch.outputTokens,
      cost: batch.cost,
    },
    error: batch.error,
    createdAt: batch.createdAt,
    startedAt: batch.startedAt,
    finishedAt: batch.finishedAt,
    results: `/v1/ai/batches/${batch.id}/results`,
    errors: `/v1/ai/batches/${batch.id}/errors`,
  };
}

// --- What the job records, line by line --------------------------------------------------

/** Marks the batch running, unless it was cancelled meanwhile; returns it as it is now. */
export async function startBatch(db: Database, id: string, now: Date): Promise<BatchRecord> {
  await db
    .update(aiBatches)
    .set({ status: 'running', startedAt: now })
    .where(and(eq(aiBatches.id, id), eq(aiBatches.status, 'queued')));
  const batch = await getBatchRecord(db, id);
  if (!batch) throw new NotFoundError('batch');
  return batch;
}

export async function cancelRequested(db: Database, id: string): Promise<boolean> {
  const [row] = await db
    .select({ at: aiBatches.cancelRequestedAt })
    .from(aiBatches)
    .where(eq(aiBatches.id, id));
  return row?.at !== null && row?.at !== undefined;
}

/**
 * Lines a worker had sent upstream when it died: whether the upstream ran them is unknown, so
 * they are not sent again (never run twice, never billed twice) and are reported as errors.
 */
export async function interruptRunningLines(db: Database, batchId: string): Promise<number> {
  const interrupted = await db
    .update(aiBatchLines)
    .set({
      state: 'failed',
      error: {
        code: 'line_interrupted',
        message:
          'The worker running this line stopped while its request was upstream; it was not sent again, so that it is never run twice. Send it in a new batch.',
      },
    })
    .where(and(eq(aiBatchLines.batchId, batchId), eq(aiBatchLines.state, 'running')))
    .returning({ line: aiBatchLines.line });
  return interrupted.length;
}

/** Claims a line before its request goes upstream; false when some worker has it already. */
export async function claimLine(db: Database, batchId: string, line: FileLine, customId: string) {
  const claimed = await db
    .insert(aiBatchLines)
    .values({ batchId, line: line.line, customId, state: 'running' })
    .onConflictDoNothing()
    .returning({ line: aiBatchLines.line });
  return claimed.length > 0;
}

/** Gives a claimed line back, unsent (the budget ran out before it could start). */
export async function releaseLine(db: Database, batchId: string, line: number): Promise<void> {
  await db
    .delete(aiBatchLines)
    .where(
      and(
        eq(aiBatchLines.batchId, batchId),
        eq(aiBatchLines.line, line),
        eq(aiBatchLines.state, 'running'),
      ),
    );
}

export interface LineOutcome {
  state: 'succeeded' | 'failed';
  statusCode: number;
  response?: unknown;
  error?: { code: string; message: string };
  requestId?: string | undefined;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costPicodollars: bigint;
  attempts: number;
}

export async function finishLine(
  db: Database,
  batchId: string,
  line: number,
  outcome: LineOutcome,
): Promise<void> {
  await db
    .update(aiBatchLines)
    .set({
      state: outcome.state,
      statusCode: outcome.statusCode,
      response: outcome.response ?? null,
      error: outcome.error ?? null,
      requestId: outcome.requestId ?? null,
      inputTokens: outcome.inputTokens,
      cachedInputTokens: outcome.cachedInputTokens,
      outputTokens: outcome.outputTokens,
      cost: formatPicodollars(outcome.costPicodollars),
      attempts: outcome.attempts,
    })
    .where(and(eq(aiBatchLines.batchId, batchId), eq(aiBatchLines.line, line)));
}

/** The numbers of lines in `[from, to]` that have a row: started, or done. */
export async function linesWithRows(
  db: Database,
  batchId: string,
  from: number,
  to: number,
): Promise<Set<number>> {
  const rows = await db
    .select({ line: aiBatchLines.line })
    .from(aiBatchLines)
    .where(
      and(
        eq(aiBatchLines.batchId, batchId),
        gte(aiBatchLines.line, from),
        lte(aiBatchLines.line, to),
      ),
    );
  return new Set(rows.map((row) => row.line));
}

/** Updates the counters a batch shows while it runs (each is a count of its rows). */
export async function refreshCounts(db: Database, batchId: string): Promise<void> {
  const counts = await liveCounts(db, batchId);
  await db
    .update(aiBatches)
    .set({ completedLines: counts.completed, failedLines: counts.failed })
    .where(eq(aiBatches.id, batchId));
}

// --- The files, once the batch has ended ----------------------------------------------------

const PAGE = 500;

/** The batch's rows in line order, a page at a time. */
async function* rowsInOrder(db: Database, batchId: string): AsyncGenerator<BatchLineRecord> {
  let after = 0;
  for (;;) {
    const page = await db
      .select()
      .from(aiBatchLines)
      .where(and(eq(aiBatchLines.batchId, batchId), gt(aiBatchLines.line, after)))
      .orderBy(asc(aiBatchLines.line))
      .limit(PAGE);
    yield* page;
    const last = page.at(-1);
    if (!last || page.length < PAGE) return;
    after = last.line;
  }
}

const requestId = (batchId: string, line: number) => `batch_req_${batchId}_${line}`;

/** OpenAI's error `type` for a status, as in the gateway's own answers. */
function errorType(status: number): string {
  if (status === 402) return 'insufficient_quota';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

export type BatchEnd = 'completed' | 'cancelled' | 'failed';

/** Why a line that never ran did not, by how the batch ended. */
const NOT_RUN: Record<BatchEnd, { code: string; message: string }> = {
  completed: { code: 'batch_incomplete', message: 'The line was not run.' },
  cancelled: { code: 'batch_cancelled', message: 'The batch was cancelled before this line ran.' },
  failed: {
    code: 'insufficient_quota',
    message: 'The budget was used up before this line ran.',
  },
};

/**
 * Writes the results file (a line per request that succeeded) and the errors file (a line per
 * request that failed or never ran), each in the order of the input, matched by `custom_id`:
 * together, one line per input line. Reads the input and the rows a page at a time.
 */
export async function writeBatchFiles(
  deps: { db: Database; storage: FileStorage },
  batchId: string,
  end: BatchEnd,
): Promise<void> {
  const { db, storage } = deps;
  await storage.write(
    batchResultsKey(batchId),
    (async function* () {
      for await (const row of rowsInOrder(db, batchId)) {
        if (row.state !== 'succeeded') continue;
        yield `${JSON.stringify({
          id: requestId(batchId, row.line),
          custom_id: row.customId,
          response: {
            status_code: row.statusCode ?? 200,
            request_id: row.requestId,
            body: row.response,
          },
          error: null,
        })}\n`;
      }
    })(),
  );
  await storage.write(
    batchErrorsKey(batchId),
    (async function* () {
      const rows = rowsInOrder(db, batchId);
      let row = (await rows.next()).value;
      for await (const line of linesOf(storage.read(batchInputKey(batchId)))) {
        while (row && row.line < line.line) row = (await rows.next()).value;
        const own = row && row.line === line.line ? row : undefined;
        if (own?.state === 'succeeded') continue;
        const customId = own?.customId ?? customIdOf(line.text);
        const error = own?.error as { code?: string; message?: string } | null | undefined;
        if (own?.state === 'failed' && own.statusCode) {
          yield `${JSON.stringify({
            id: requestId(batchId, line.line),
            custom_id: customId,
            response: {
              status_code: own.statusCode,
              request_id: own.requestId,
              body: {
                error: {
                  message: error?.message ?? 'failed',
                  type: errorType(own.statusCode),
                  code: error?.code ?? null,
                },
              },
            },
            error: null,
          })}\n`;
        } else {
          yield `${JSON.stringify({
            id: requestId(batchId, line.line),
            custom_id: customId,
            response: null,
            error: own?.state === 'failed' && error ? error : NOT_RUN[end],
          })}\n`;
        }
      }
    })(),
  );
}

function customIdOf(text: string): string | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && 'custom_id' in parsed
      ? String(parsed.custom_id)
      : null;
  } catch {
    return null;
  }
}

/**
 * Ends the batch: its counts and usage (the sums of its lines) and status, then its rows and
 * its input go, in one transaction for the rows; the files were written before.
 */
export async function endBatch(
  deps: { db: Database; storage: FileStorage },
  batchId: string,
  end: BatchEnd,
  outcome: { at: Date; error?: string },
): Promise<BatchRecord> {
  const { db } = deps;
  const ended = await db.transaction(async (tx) => {
    const [totals] = await tx
      .select({
        completedLines: sql<number>`(count(*) filter (where ${aiBatchLines.state} = 'succeeded'))::int`,
        failedLines: sql<number>`(count(*) filter (where ${aiBatchLines.state} = 'failed'))::int`,
        inputTokens: sql<number>`coalesce(sum(${aiBatchLines.inputTokens}), 0)::int`,
        cachedInputTokens: sql<number>`coalesce(sum(${aiBatchLines.cachedInputTokens}), 0)::int`,
        outputTokens: sql<number>`coalesce(sum(${aiBatchLines.outputTokens}), 0)::int`,
        cost: sql<string>`coalesce(sum(${aiBatchLines.cost}), 0)::numeric(24, 12)::text`,
      })
      .from(aiBatchLines)
      .where(eq(aiBatchLines.batchId, batchId));
    const [record] = await tx
      .update(aiBatches)
      .set({
        status: end,
        finishedAt: outcome.at,
        error: outcome.error ?? null,
        ...(totals ?? {}),
      })
      .where(eq(aiBatches.id, batchId))
      .returning();
    await tx.delete(aiBatchLines).where(eq(aiBatchLines.batchId, batchId));
    return record;
  });
  if (!ended) throw new NotFoundError('batch');
  await deps.storage.delete(batchInputKey(batchId));
  return ended;
}
