/**
 * Batch lines per second for `npm run bench`, in the bench process itself: a batch uploaded
 * through the app and run by the `ai.run-batch` job (the template's BullMQ driver, a worker in
 * this process) against the bench upstream (scripts/bench/fake-upstream.ts, answering at
 * once), its key held to BENCH_BATCH_TPM tokens per minute.
 *
 * The limit is a fixed window of a minute that starts with its first reservation, so a rate
 * can only be read across the end of a window: the batch holds the lines one window allows,
 * plus one that must wait for the next. Within the window the lines run as fast as the
 * machine runs them (BENCH_BATCH_TPM is set low enough that this takes well under the minute),
 * then the job waits, then it sends the last line as the new window opens. Its lines per
 * second, from the job's start to its end (files written), are then set against what the
 * limit allows: tokens per minute over the tokens a line was billed.
 */
import { createApp } from '../../src/app.ts';
import { parseSettings } from '../../src/core/settings.ts';
import { createDeps } from '../../src/deps.ts';
import { runBatch } from '../../src/modules/ai/batches.jobs.ts';
import { createTestApiKey, createTestUser } from '../../test/support/auth.ts';
import { freePort, startTarget } from './processes.ts';
import { fmt, log } from './report.ts';

export interface BatchBenchOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Every Redis key of the bench starts with it; the caller deletes them afterwards. */
  prefix: string;
  jwtSecret: string;
  tokensPerMinute: number;
  concurrency: number;
}

export interface BatchFigures {
  lines: number;
  completed: number;
  failed: number;
  concurrency: number;
  tokensPerMinute: number;
  /** Tokens a line was billed (prompt and answer), on average. */
  tokensPerLine: number;
  elapsedMs: number;
  linesPerSecond: number;
  /** The lines per second the limit allows: tokens per minute / tokens per line / 60. */
  limitLinesPerSecond: number;
  /** Lines per second of the same batch with the limit past reach: the machine's own rate. */
  unlimitedLinesPerSecond: number;
}

const MODEL = 'bench-model';
/** What the bench upstream bills a call: 12 prompt tokens and 8 pieces of answer. */
const EXPECTED_TOKENS_PER_LINE = 20;

function batchFile(lines: number, tag: string): string {
  return Array.from(
    { length: lines },
    (_, index) =>
      `${JSON.stringify({
        custom_id: `${tag}-${index}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: MODEL,
          messages: [{ role: 'user', content: `Say line ${index} back` }],
          max_tokens: 8,
        },
      })}\n`,
  ).join('');
}

interface BatchBody {
  id: string;
  status: string;
  requestCounts: { total: number; completed: number; failed: number };
  usage: { inputTokens: number; outputTokens: number };
  startedAt: string | null;
  finishedAt: string | null;
}

export async function benchBatch(options: BatchBenchOptions): Promise<BatchFigures> {
  const upstreamPort = await freePort();
  const upstream = await startTarget({
    name: 'upstream',
    entry: 'scripts/bench/fake-upstream.ts',
    readyPath: '/livez',
    port: upstreamPort,
    env: {},
  });
  const settings = parseSettings({
    NODE_ENV: 'production',
    JWT_SECRET: options.jwtSecret,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.prefix,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    MIGRATE_ON_START: 'false',
    RATE_LIMIT_DEFAULT_REQUESTS: '1000000000',
    AI_UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}/v1`,
    AI_UPSTREAM_API_KEY: 'sk-bench-upstream',
    AI_MODELS: JSON.stringify([
      {
        id: MODEL,
        upstream: 'bench-upstream-model',
        inputPrice: '0.15',
        outputPrice: '0.60',
        contextWindow: 128_000,
        maxOutput: 1_000,
      },
    ]),
    AI_TOKENS_PER_MINUTE: String(options.tokensPerMinute),
    AI_CACHE_TTL_SECONDS: '0',
    AI_BATCH_CONCURRENCY: String(options.concurrency),
  });
  const deps = await createDeps(settings);
  let worker: Awaited<ReturnType<typeof deps.jobs.startWorker>> | undefined;
  try {
    const app = createApp(deps);
    const owner = await createTestUser(deps);
    worker = await deps.jobs.startWorker([runBatch], deps);

    /** Runs a batch of `lines` under a key of its own (a window of its own), to its end. */
    const run = async (lines: number, tag: string): Promise<BatchBody> => {
      const { key } = await createTestApiKey(deps, owner.user, ['ai:batch']);
      const headers = { authorization: `Bearer ${key}` };
      const form = new FormData();
      form.append('file', new File([batchFile(lines, tag)], 'batch.jsonl'));
      const created = await app.request('/v1/ai/batches', { method: 'POST', headers, body: form });
      if (created.status !== 202) {
        throw new Error(`batch bench: upload ${created.status} ${await created.text()}`);
      }
      const { id } = (await created.json()) as BatchBody;
      for (;;) {
        const response = await app.request(`/v1/ai/batches/${id}`, { headers });
        const batch = (await response.json()) as BatchBody;
        if (['completed', 'cancelled', 'failed'].includes(batch.status)) return batch;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const elapsedOf = (batch: BatchBody) =>
      Date.parse(batch.finishedAt ?? '') - Date.parse(batch.startedAt ?? '');

    // The machine's own rate, the limit past reach (a key bills what fits a window, not more):
    // it also warms up what the timed run goes through.
    const allowance = Math.floor(options.tokensPerMinute / EXPECTED_TOKENS_PER_LINE);
    const free = await run(Math.min(allowance, 1_000), 'warm');
    const unlimitedLinesPerSecond = (free.requestCounts.total * 1_000) / elapsedOf(free);
    log(
      `batch: ${free.requestCounts.total} lines unhindered in ${fmt.ms(elapsedOf(free))} (${fmt.int(unlimitedLinesPerSecond)} lines/s)`,
    );

    // One window's allowance and one line more: the last must wait for the next window.
    const lines = allowance + 1;
    log(
      `batch: ${fmt.int(lines)} lines at ${fmt.int(options.tokensPerMinute)} tokens per minute (about ${fmt.int(allowance)} lines a window), concurrency ${options.concurrency}; this takes a minute`,
    );
    const batch = await run(lines, 'timed');
    const elapsedMs = elapsedOf(batch);
    const { completed, failed } = batch.requestCounts;
    const tokensPerLine = (batch.usage.inputTokens + batch.usage.outputTokens) / completed;
    const linesPerSecond = (lines * 1_000) / elapsedMs;
    const limitLinesPerSecond = options.tokensPerMinute / tokensPerLine / 60;
    log(
      `batch: ${fmt.int(lines)} lines (${completed} completed, ${failed} failed) in ${fmt.ms(elapsedMs)}: ${linesPerSecond.toFixed(1)} lines/s, the limit allows ${limitLinesPerSecond.toFixed(1)}`,
    );
    return {
      lines,
      completed,
      failed,
      concurrency: options.concurrency,
      tokensPerMinute: options.tokensPerMinute,
      tokensPerLine,
      elapsedMs,
      linesPerSecond,
      limitLinesPerSecond,
      unlimitedLinesPerSecond,
    };
  } finally {
    await worker?.close(5_000);
    await deps.close();
    await upstream.stop();
  }
}
