import { setTimeout as sleep } from 'node:timers/promises';
import { z } from '@hono/zod-openapi';
import { isDependencyUnavailable } from '../../core/dependency-errors.ts';
import type { Deps } from '../../core/deps.ts';
import { DomainError } from '../../core/domain-errors.ts';
import { defineJob, type JobContext, PermanentJobError } from '../../core/jobs/define-job.ts';
import { aiContextOf } from './ai-context.ts';
import {
  AiRateLimitError,
  aiProblem,
  BudgetExceededError,
  UpstreamFailedError,
} from './ai-errors.ts';
import { BatchRequestLine, type FileLine, linesOf } from './batch-file.ts';
import {
  type BatchEnd,
  batchInputKey,
  cancelRequested,
  claimLine,
  endBatch,
  finishLine,
  getBatchRecord,
  interruptRunningLines,
  isFinished,
  type LineOutcome,
  linesWithRows,
  refreshCounts,
  releaseLine,
  startBatch,
  writeBatchFiles,
} from './batches.service.ts';
import type { Bill } from './chat.service.ts';
import { runChat } from './chat.service.ts';
import type { Caller } from './limits.ts';
import { UpstreamError } from './upstream.ts';

/** Tries of a line that fails for a reason that may pass (the upstream's 5xx, after its own retries). */
const LINE_ATTEMPTS = 3;
/** How often the job reports progress and looks for a cancellation. */
const TICK_MS = 500;
/** Lines whose rows are looked up at once, when skipping those done before. */
const SKIP_WINDOW = 500;

/** The input's lines that have no row yet: those a previous worker neither ran nor started. */
async function* pendingLines(deps: Deps, batchId: string): AsyncGenerator<FileLine> {
  let window: FileLine[] = [];
  const flush = async function* () {
    const first = window[0];
    const last = window.at(-1);
    if (!first || !last) return;
    const done = await linesWithRows(deps.db, batchId, first.line, last.line);
    const open = window.filter((line) => !done.has(line.line));
    window = [];
    yield* open;
  };
  for await (const line of linesOf(deps.storage.read(batchInputKey(batchId)))) {
    window.push(line);
    if (window.length >= SKIP_WINDOW) yield* flush();
  }
  yield* flush();
}

/** How a line's request failed: for good (its status), or for now (try again). */
function classify(error: unknown): {
  retry: boolean;
  status: number;
  code: string;
  message: string;
} {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UpstreamFailedError || isDependencyUnavailable(error)) {
    return { retry: true, status: 502, code: 'upstream_error', message };
  }
  if (error instanceof UpstreamError) {
    const status = error.status ?? 502;
    return { retry: error.retryable, status, code: error.code ?? 'upstream_error', message };
  }
  if (error instanceof DomainError) {
    const problem = aiProblem(error);
    const code = problem?.init.extensions?.code;
    return {
      retry: false,
      status: problem?.status ?? 400,
      code: typeof code === 'string' ? code : 'invalid_request',
      message,
    };
  }
  return { retry: false, status: 500, code: 'internal_error', message };
}

/**
 * Runs a batch's lines through the gateway, a few at a time (`AI_BATCH_CONCURRENCY`), each
 * counted against the key's tokens per minute and budgets (a refused line waits for the
 * window, never fails for it); retries lines that fail for a passing reason; reports
 * progress; stops taking lines when cancelled, when the budget is used up, or when the
 * worker stops; then writes the results and errors files.
 *
 * Each line is recorded before its request goes upstream and again when it ends, so a
 * worker that takes the batch over after another died (kill -9) skips every line that was
 * started: none runs twice (the ones caught mid-request are reported, not sent again).
 */
export const runBatch = defineJob({
  name: 'ai.run-batch',
  input: z.object({ batchId: z.uuid() }),
  attempts: 5,
  backoff: { delayMs: 2_000, jitter: 0.5 },
  // A large batch paced by a small token limit takes hours; the lock, not this, finds the dead.
  timeoutMs: 24 * 3600_000,
  concurrency: 2,
  async run({ batchId }, { deps, progress, signal, logger }: JobContext<Deps>) {
    const ai = aiContextOf(deps);
    const found = await getBatchRecord(deps.db, batchId);
    if (!found) throw new PermanentJobError(`Batch ${batchId} does not exist`);
    if (isFinished(found)) return { batchId, status: found.status };
    const batch = await startBatch(deps.db, batchId, deps.clock.now());
    const caller: Caller = { userId: batch.ownerId, apiKeyId: batch.apiKeyId ?? undefined };
    const interrupted = await interruptRunningLines(deps.db, batchId);
    if (interrupted > 0)
      logger.warn(
        { batchId, interrupted },
        'batch taken over: lines caught mid-request are not sent again',
      );

    /** Why the batch stopped taking lines, if it did before the file's end. */
    const state: { stopped: 'cancelled' | 'budget' | 'shutdown' | undefined } = {
      stopped: undefined,
    };
    const stopTaking = new AbortController();
    const stop = (why: 'cancelled' | 'budget' | 'shutdown') => {
      state.stopped ??= why;
      stopTaking.abort();
    };
    if (batch.status === 'cancelling') stop('cancelled');
    const onShutdown = () => stop('shutdown');
    if (deps.shutdown.aborted) onShutdown();
    else deps.shutdown.addEventListener('abort', onShutdown, { once: true });

    let finished = batch.completedLines + batch.failedLines + interrupted;
    const runLine = async (line: FileLine) => {
      const request = BatchRequestLine.parse(JSON.parse(line.text));
      if (!(await claimLine(deps.db, batchId, line, request.custom_id))) return;
      let bill: Bill | undefined;
      let attempts = 0;
      const billed = (): Omit<LineOutcome, 'state' | 'statusCode' | 'attempts'> => ({
        inputTokens: bill?.inputTokens ?? 0,
        cachedInputTokens: bill?.cachedInputTokens ?? 0,
        outputTokens: bill?.outputTokens ?? 0,
        costPicodollars: bill?.costPicodollars ?? 0n,
      });
      for (;;) {
        try {
          bill = undefined;
          attempts += 1;
          const result = await runChat(
            ai,
            caller,
            { ...request.body, stream: false },
            {
              signal,
              cache: 'default',
              countRequest: false,
              onBilled: (each) => {
                bill = each;
              },
            },
          );
          if (result.kind !== 'json') throw new Error('a batch line was answered as a stream');
          await finishLine(deps.db, batchId, line.line, {
            state: 'succeeded',
            statusCode: 200,
            response: result.completion,
            requestId: result.headers['x-upstream-request-id'],
            attempts,
            ...billed(),
          });
          break;
        } catch (error) {
          if (signal.aborted) throw error;
          if (error instanceof AiRateLimitError) {
            // The key's window is full: wait for it, however long, as a client would.
            attempts -= 1;
            await sleep(error.retryAfterSeconds * 1000, undefined, { signal });
            continue;
          }
          if (error instanceof BudgetExceededError) {
            await releaseLine(deps.db, batchId, line.line);
            stop('budget');
            return;
          }
          const failure = classify(error);
          if (failure.retry && attempts < LINE_ATTEMPTS) {
            await sleep(1_000 * 2 ** (attempts - 1), undefined, { signal });
            continue;
          }
          if (failure.status >= 500)
            logger.warn({ err: error, batchId, line: line.line }, 'batch line failed');
          await finishLine(deps.db, batchId, line.line, {
            state: 'failed',
            statusCode: failure.status,
            error: { code: failure.code, message: failure.message },
            attempts,
            ...billed(),
          });
          break;
        }
      }
      finished += 1;
    };

    const ticker = setInterval(() => {
      void (async () => {
        if (await cancelRequested(deps.db, batchId)) stop('cancelled');
        await refreshCounts(deps.db, batchId);
        await progress((finished / Math.max(1, batch.totalLines)) * 100);
      })().catch((error: unknown) =>
        logger.warn({ err: error, batchId }, 'batch progress not reported'),
      );
    }, TICK_MS);
    try {
      const lines = pendingLines(deps, batchId);
      const runner = async () => {
        while (!stopTaking.signal.aborted) {
          const next = await lines.next();
          if (next.done) return;
          await runLine(next.value);
        }
      };
      await Promise.all(Array.from({ length: deps.settings.AI_BATCH_CONCURRENCY }, () => runner()));
      await lines.return(undefined);
    } finally {
      clearInterval(ticker);
      deps.shutdown.removeEventListener('abort', onShutdown);
    }

    if (state.stopped === 'shutdown') {
      // Every line taken has ended; the job goes back to the queue when the worker's deadline
      // comes, without using up a try, and whoever takes it skips what is done.
      logger.info({ batchId, finished }, 'worker stopping: batch left for the next worker');
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      signal.throwIfAborted();
    }
    const { stopped } = state;
    const end: BatchEnd =
      stopped === 'cancelled' ? 'cancelled' : stopped === 'budget' ? 'failed' : 'completed';
    await writeBatchFiles(deps, batchId, end);
    const ended = await endBatch(deps, batchId, end, {
      at: deps.clock.now(),
      ...(end === 'failed' ? { error: 'A budget was used up before every line ran' } : {}),
    });
    await progress(100);
    logger.info(
      { batchId, status: end, completed: ended.completedLines, failed: ended.failedLines },
      'batch finished',
    );
    return {
      batchId,
      status: end,
      completed: ended.completedLines,
      failed: ended.failedLines,
      cost: ended.cost,
    };
  },
});
