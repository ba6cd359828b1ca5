/**
 * The AI module's figures for `npm run bench`: batch lines per second against the bench
 * upstream under a token-per-minute limit (`batch`, see ai-batch.ts), and embedding, indexing
 * and search of a collection on the embedded database (`retrieval`, see ai-retrieval.ts).
 * BENCH_ONLY picks them by those words. Tuned by BENCH_BATCH_TPM (60,000 tokens per minute:
 * 3,000 lines a window), BENCH_BATCH_CONCURRENCY (8, AI_BATCH_CONCURRENCY's default),
 * BENCH_RETRIEVAL_CHUNKS (10,000) and BENCH_RETRIEVAL_SEARCHES (200).
 *
 * The batch takes a little over a minute (a rate under a per-minute limit is read across the
 * end of a window). The embedded database keeps no HNSW index (decision 051), so indexing is
 * bound by embedding and plain inserts, and searches sort the collection by exact distance.
 */
import { deleteRedisKeys } from '../../test/support/deps.ts';
import { type BatchFigures, benchBatch } from './ai-batch.ts';
import { benchRetrieval, type RetrievalFigures } from './ai-retrieval.ts';
import { fmt, positiveInt, table } from './report.ts';

const BATCH = {
  tokensPerMinute: positiveInt('BENCH_BATCH_TPM', 60_000),
  concurrency: positiveInt('BENCH_BATCH_CONCURRENCY', 8),
};
const RETRIEVAL = {
  chunks: positiveInt('BENCH_RETRIEVAL_CHUNKS', 10_000),
  searches: positiveInt('BENCH_RETRIEVAL_SEARCHES', 200),
};
const AIMS = {
  /** Batch lines per second, as a share of what the token-per-minute limit allows. */
  batchOfLimit: 0.9,
};

export interface AiBenchOptions {
  batch: boolean;
  retrieval: boolean;
  databaseUrl: string;
  redisUrl: string;
  /** Every Redis key of these benches starts with it; deleted once they are done. */
  prefix: string;
  jwtSecret: string;
}

export interface AiBenchReport {
  /** Lines to print, tables and their notes. */
  lines: string[];
  /** Rows of the summary: scenario, measure, value, aim, met. */
  summary: string[][];
}

/** Runs the AI benches asked for, in this process; what to print, and the summary's rows. */
export async function benchAi(options: AiBenchOptions): Promise<AiBenchReport> {
  let batch: BatchFigures | undefined;
  let retrieval: RetrievalFigures | undefined;
  try {
    if (options.batch) {
      batch = await benchBatch({
        databaseUrl: options.databaseUrl,
        redisUrl: options.redisUrl,
        prefix: `${options.prefix}batch:`,
        jwtSecret: options.jwtSecret,
        ...BATCH,
      });
    }
    if (options.retrieval) {
      retrieval = await benchRetrieval({
        redisUrl: options.redisUrl,
        prefix: `${options.prefix}retrieval:`,
        ...RETRIEVAL,
      });
    }
  } finally {
    await deleteRedisKeys(options.prefix);
  }
  const lines: string[] = [];
  const summary: string[][] = [];
  if (batch) {
    const ratio = batch.linesPerSecond / batch.limitLinesPerSecond;
    // Only a rate the limit bounds says whether the job keeps up with it.
    const limitBound = batch.unlimitedLinesPerSecond > batch.limitLinesPerSecond * 1.5;
    lines.push(
      table(
        [
          'AI batch',
          'lines',
          'tokens/line',
          'limit',
          'limit allows',
          'lines/s',
          'of the limit',
          'elapsed',
          'unhindered',
        ],
        [
          [
            `ai.run-batch, concurrency ${batch.concurrency}`,
            `${fmt.int(batch.completed)} / ${fmt.int(batch.lines)}`,
            batch.tokensPerLine.toFixed(1),
            `${fmt.int(batch.tokensPerMinute)} tokens/min`,
            `${batch.limitLinesPerSecond.toFixed(1)} lines/s`,
            batch.linesPerSecond.toFixed(1),
            fmt.pct(ratio),
            fmt.ms(batch.elapsedMs),
            `${fmt.int(batch.unlimitedLinesPerSecond)} lines/s`,
          ],
        ],
      ),
      `  one window's allowance of lines and one more, uploaded through the app and run by the job against the bench upstream (answering at once), timed from the batch's start to its end (files written); the last line waits for the next window, so the figure says whether the job uses a window's allowance and goes on as soon as the next opens. Limit allows: tokens per minute / tokens billed per line / 60. Unhindered: ${Math.min(1_000, Math.floor(batch.tokensPerMinute / 20))} lines within one window, which bounds nothing (the machine's own rate)`,
      '',
    );
    summary.push([
      'AI batch',
      'lines/s / what the token limit allows',
      `${fmt.pct(ratio)} (${batch.linesPerSecond.toFixed(1)} / ${batch.limitLinesPerSecond.toFixed(1)})`,
      `>= ${fmt.pct(AIMS.batchOfLimit)}`,
      batch.failed > 0 || batch.completed !== batch.lines
        ? `NOT MET (${batch.lines - batch.completed} lines not completed)`
        : !limitBound
          ? 'NOT MET (the machine, not the limit, bounds it: lower BENCH_BATCH_TPM)'
          : ratio >= AIMS.batchOfLimit
            ? 'met'
            : 'NOT MET',
    ]);
  }
  if (retrieval) {
    lines.push(
      table(
        [
          'AI retrieval (PGlite)',
          'chunks',
          'embedded + indexed',
          'chunks/s',
          'loop held up to',
          'searches',
          'search p50',
          'search p99',
          'first hit right',
          'plan',
        ],
        [
          [
            `${retrieval.model}, ${retrieval.documents} documents`,
            fmt.int(retrieval.chunks),
            fmt.ms(retrieval.indexMs),
            fmt.int(retrieval.chunksPerSecond),
            fmt.ms(retrieval.longestStallMs),
            fmt.int(retrieval.searches),
            fmt.ms(retrieval.searchP50Ms),
            fmt.ms(retrieval.searchP99Ms),
            fmt.pct(retrieval.firstHits / retrieval.searches),
            retrieval.plan,
          ],
        ],
      ),
      `  the embedded database (PGlite with its pgvector, on disk) in this process; documents of made-up words uploaded through the app, cut into chunks of ${retrieval.chunkTokens} tokens, embedded by the development model and stored by the ai.index-document job (the embedded database keeps no HNSW index: decision 051), timed from the first upload until every document is ready. Loop held: the longest the event loop waited meanwhile (PGlite computes on its thread). Searches: POST …/search one at a time (top 5) through the app, after 10 of warm-up, each a few words of some chunk (first hit right: the chunk holding them ranked first). Plan: EXPLAIN of the search's query: every chunk of the collection sorted by exact distance`,
      '',
    );
    const scenario = `AI retrieval, ${fmt.int(retrieval.chunks)} chunks`;
    summary.push(
      [
        scenario,
        'embedded and indexed (PGlite)',
        `${fmt.ms(retrieval.indexMs)} (${fmt.int(retrieval.chunksPerSecond)} chunks/s)`,
        '(figure only)',
        '—',
      ],
      [
        scenario,
        'search p50 / p99',
        `${fmt.ms(retrieval.searchP50Ms)} / ${fmt.ms(retrieval.searchP99Ms)}`,
        '(figure only)',
        '—',
      ],
    );
  }
  return { lines, summary };
}
