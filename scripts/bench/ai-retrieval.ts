/**
 * Retrieval for `npm run bench`, in the bench process itself, on the embedded database
 * (PGlite, with the pgvector it ships): documents uploaded through the app until the
 * collection holds BENCH_RETRIEVAL_CHUNKS chunks (10,000), each cut, embedded with the
 * development model (`dev-local-embed`, 1,536 dimensions) and stored by the
 * `ai.index-document` job (no HNSW index on the embedded database: decision 051), timed
 * from the first upload until every document is ready; then searches through the app, one
 * at a time, each a few words of a chunk, timed one by one (their text embedded, the chunks
 * ranked, the hits named).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { createApp } from '../../src/app.ts';
import { parseSettings } from '../../src/core/settings.ts';
import { createDeps } from '../../src/deps.ts';
import { chunkByTokens } from '../../src/modules/ai/chunking.ts';
import { indexDocument } from '../../src/modules/ai/documents.jobs.ts';
import { embedLocally } from '../../src/modules/ai/local-model.ts';
import { storedVector } from '../../src/modules/ai/vector-store.ts';
import { createTestApiKey, createTestUser } from '../../test/support/auth.ts';
import { seededRandom } from '../../test/support/seeded-random.ts';
import { fmt, log, percentile } from './report.ts';

export interface RetrievalBenchOptions {
  redisUrl: string;
  /** Every Redis key of the bench starts with it; the caller deletes them afterwards. */
  prefix: string;
  chunks: number;
  searches: number;
}

export interface RetrievalFigures {
  model: string;
  documents: number;
  chunks: number;
  chunkTokens: number;
  indexMs: number;
  chunksPerSecond: number;
  searches: number;
  searchP50Ms: number;
  searchP99Ms: number;
  /** Searches whose first hit holds the words searched for. */
  firstHits: number;
  /** The longest the event loop was held while indexing: PGlite runs on the loop's thread. */
  longestStallMs: number;
  /** How PostgreSQL finds a search's chunks: through the HNSW index, or by exact distance. */
  plan: 'HNSW index' | 'exact distance, every chunk of the collection';
}

/** Chunks of a document: the collection's chunks split into documents of this many. */
const CHUNKS_PER_DOCUMENT = 1_000;
const CHUNK_TOKENS = 64;
const CHUNK_OVERLAP = 8;
const TOP_K = 5;

/** A vocabulary of made-up words: each chunk then shares few words with most others. */
function vocabulary(next: () => number, size: number): string[] {
  const syllables = ['ka', 'lo', 'mi', 'ter', 'van', 'su', 'rek', 'po', 'dal', 'ni', 'zor', 'be'];
  const words = new Set<string>();
  while (words.size < size) {
    const length = 2 + Math.floor(next() * 3);
    words.add(
      Array.from({ length }, () => syllables[Math.floor(next() * syllables.length)]).join(''),
    );
  }
  return [...words];
}

/** A document of sentences of made-up words, cut to about `chunks` chunks. */
async function documentOf(next: () => number, words: string[], chunks: number): Promise<string> {
  const sentences: string[] = [];
  const sentence = () => {
    const length = 6 + Math.floor(next() * 10);
    const picked = Array.from({ length }, () => words[Math.floor(next() * words.length)]);
    const text = picked.join(' ');
    return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
  };
  // About 26 tokens a sentence, a chunk moves on by 56: more than enough, then cut.
  for (let index = 0; index < chunks * 2.6; index++) sentences.push(sentence());
  let text = sentences.join(' ');
  const cut = await chunkByTokens(text, { maxTokens: CHUNK_TOKENS, overlap: CHUNK_OVERLAP });
  const last = cut[chunks - 1];
  if (last) text = text.slice(0, text.indexOf(last.text) + last.text.length);
  return text;
}

export async function benchRetrieval(options: RetrievalBenchOptions): Promise<RetrievalFigures> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-retrieval-'));
  const settings = parseSettings({
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.prefix,
    // Redis commands time out now and then while PGlite holds the thread (see longestStallMs),
    // and each says so at warn: the figure tells it once.
    LOG_LEVEL: 'error',
    LOG_FORMAT: 'json',
    MIGRATE_ON_START: 'true',
    UPLOAD_MAX_BYTES: String(64 * 1_048_576),
    // The limits are past reach: what is timed is the work, not the wait for a window.
    AI_TOKENS_PER_MINUTE: '1000000000',
    AI_REQUESTS_PER_MINUTE: '1000000000',
    RATE_LIMIT_DEFAULT_REQUESTS: '1000000000',
    // Every question is new: its text is embedded, never read from the cache.
    AI_CACHE_TTL_SECONDS: '0',
  });
  const deps = await createDeps(settings);
  let worker: Awaited<ReturnType<typeof deps.jobs.startWorker>> | undefined;
  try {
    if (deps.database.kind !== 'embedded') throw new Error('retrieval bench: not on PGlite');
    const app = createApp(deps);
    const owner = await createTestUser(deps);
    const { key } = await createTestApiKey(deps, owner.user, ['ai:documents']);
    const headers = { authorization: `Bearer ${key}` };
    const call = async (path: string, init: RequestInit = {}) => {
      const response = await app.request(path, {
        ...init,
        headers: { ...headers, ...init.headers },
      });
      if (response.status >= 300) {
        throw new Error(`retrieval bench: ${path} ${response.status} ${await response.text()}`);
      }
      return response.json() as Promise<unknown>;
    };
    const created = (await call('/v1/ai/collections', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'bench',
        chunkTokens: CHUNK_TOKENS,
        chunkOverlap: CHUNK_OVERLAP,
      }),
    })) as { id: string; model: string };

    // Seeded, so every run indexes the same corpus.
    const next = seededRandom(14);
    const words = vocabulary(next, 5_000);
    const texts: string[] = [];
    for (let left = options.chunks; left > 0; left -= CHUNKS_PER_DOCUMENT) {
      texts.push(await documentOf(next, words, Math.min(left, CHUNKS_PER_DOCUMENT)));
    }
    log(`retrieval: ${texts.length} documents written, indexing about ${options.chunks} chunks`);

    worker = await deps.jobs.startWorker([indexDocument], deps);
    const stalls = monitorEventLoopDelay({ resolution: 20 });
    stalls.enable();
    const started = performance.now();
    for (const [index, text] of texts.entries()) {
      const form = new FormData();
      form.append('file', new File([text], `bench-${index}.md`, { type: 'text/markdown' }));
      await call(`/v1/ai/collections/${created.id}/documents`, { method: 'POST', body: form });
    }
    type Listed = { data: { status: string; chunkCount: number; error: string | null }[] };
    let listed: Listed;
    for (;;) {
      listed = (await call(`/v1/ai/collections/${created.id}/documents`)) as Listed;
      const failed = listed.data.find((document) => document.status === 'failed');
      if (failed) throw new Error(`retrieval bench: a document failed: ${failed.error}`);
      if (listed.data.every((document) => document.status === 'ready')) break;
      await sleep(100);
    }
    const indexMs = performance.now() - started;
    stalls.disable();
    const longestStallMs = stalls.max / 1e6;
    const chunks = listed.data.reduce((sum, document) => sum + document.chunkCount, 0);
    log(
      `retrieval: ${fmt.int(chunks)} chunks embedded and indexed in ${fmt.ms(indexMs)} (${fmt.int((chunks * 1_000) / indexMs)} chunks/s); the event loop held up to ${fmt.ms(longestStallMs)} at a time`,
    );

    // A few words of some chunk, drawn from the corpus: each question has a right answer.
    const questions = Array.from({ length: options.searches + 10 }, () => {
      const text = texts[Math.floor(next() * texts.length)] ?? '';
      const from = text.indexOf(' ', Math.floor(next() * (text.length - 200))) + 1;
      return text.slice(from, from + 60).replace(/\s+\S*$/, '');
    });
    // The plan a search's query gets (the service's query, in its shape).
    const probe = storedVector(embedLocally(questions[0] ?? ''));
    const explained: unknown = await deps.db.execute(
      sql`explain select id from ai_chunks where collection_id = ${created.id} and active order by embedding <=> ${JSON.stringify(probe)}::vector limit ${TOP_K}`,
    );
    const plan = JSON.stringify(explained).includes('ai_chunks_embedding_idx')
      ? 'HNSW index'
      : 'exact distance, every chunk of the collection';
    const timings: number[] = [];
    let firstHits = 0;
    for (const [index, query] of questions.entries()) {
      const began = performance.now();
      const found = (await call(`/v1/ai/collections/${created.id}/search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, topK: TOP_K }),
      })) as { data: { text: string }[] };
      // The first ten warm up (compilation, the index's pages); they are not counted.
      if (index < 10) continue;
      timings.push(performance.now() - began);
      if (found.data[0]?.text.includes(query)) firstHits += 1;
    }
    return {
      model: created.model,
      documents: texts.length,
      chunks,
      chunkTokens: CHUNK_TOKENS,
      indexMs,
      chunksPerSecond: (chunks * 1_000) / indexMs,
      searches: timings.length,
      searchP50Ms: percentile(timings, 0.5),
      searchP99Ms: percentile(timings, 0.99),
      firstHits,
      longestStallMs,
      plan,
    };
  } finally {
    await worker?.close(5_000);
    await deps.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
