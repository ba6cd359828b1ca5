import { setTimeout as sleep } from 'node:timers/promises';
import { z } from '@hono/zod-openapi';
import type { Deps } from '../../core/deps.ts';
import { defineJob, type JobContext, PermanentJobError } from '../../core/jobs/define-job.ts';
import { aiContextOf } from './ai-context.ts';
import {
  AiRateLimitError,
  BudgetExceededError,
  UpstreamRejectedError,
  VectorStoreUnavailableError,
} from './ai-errors.ts';
import { chunkByTokens } from './chunking.ts';
import {
  activateVersion,
  documentTextKey,
  dropStaleChunks,
  getDocumentWithCollection,
  insertChunks,
  markDocument,
} from './documents.service.ts';
import { runEmbeddings } from './embeddings.service.ts';
import { requireVectorStore } from './vector-store.ts';

/** Chunks embedded in one call upstream. */
const EMBED_GROUP = 64;

async function readText(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Indexes one version of a document: cut into chunks by tokens with overlap, embedded a
 * group at a time with its collection's model (billed to whoever uploaded it, within their
 * tokens per minute, waiting for the window), stored beside the live ones, then put live in
 * one transaction that takes the old version's chunks away. A newer version uploaded
 * meanwhile makes this one stop: its own job does the work.
 */
export const indexDocument = defineJob({
  name: 'ai.index-document',
  input: z.object({ documentId: z.uuid(), version: z.number().int().positive() }),
  attempts: 3,
  timeoutMs: 60 * 60_000,
  concurrency: 2,
  async run({ documentId, version }, { deps, progress, signal, logger }: JobContext<Deps>) {
    const found = await getDocumentWithCollection(deps.db, documentId);
    if (!found || found.document.version !== version) return { documentId, superseded: true };
    const { document, collection } = found;
    try {
      await requireVectorStore(deps.db);
    } catch (error) {
      if (error instanceof VectorStoreUnavailableError) {
        await markDocument(deps.db, documentId, version, {
          status: 'failed',
          error: error.message,
        });
        throw new PermanentJobError(error.message);
      }
      throw error;
    }
    await markDocument(deps.db, documentId, version, { status: 'indexing' });
    await dropStaleChunks(deps.db, documentId, version);
    const text = await readText(deps.storage.read(documentTextKey(documentId)));
    const chunks = await chunkByTokens(text, {
      maxTokens: collection.chunkTokens,
      overlap: collection.chunkOverlap,
    });
    const ai = aiContextOf(deps);
    const caller = { userId: document.userId, apiKeyId: document.apiKeyId ?? undefined };
    for (let start = 0; start < chunks.length; start += EMBED_GROUP) {
      signal.throwIfAborted();
      const group = chunks.slice(start, start + EMBED_GROUP);
      let embedded: Awaited<ReturnType<typeof runEmbeddings>> | undefined;
      while (!embedded) {
        try {
          embedded = await runEmbeddings(
            ai,
            caller,
            {
              model: collection.model,
              input: group.map((chunk) => chunk.text),
              dimensions: collection.dimensions,
            },
            { signal, cache: 'default', countRequest: false },
          );
        } catch (error) {
          if (error instanceof AiRateLimitError) {
            await sleep(error.retryAfterSeconds * 1000, undefined, { signal });
            continue;
          }
          // Neither passes by trying again: the document fails, saying why.
          if (error instanceof BudgetExceededError || error instanceof UpstreamRejectedError) {
            await markDocument(deps.db, documentId, version, {
              status: 'failed',
              error: error.message,
            });
            throw new PermanentJobError(error.message);
          }
          throw error;
        }
      }
      const vectors = embedded.vectors;
      await insertChunks(
        deps.db,
        group.map((chunk, index) => ({
          documentId,
          collectionId: collection.id,
          version,
          seq: chunk.seq,
          text: chunk.text,
          tokens: chunk.tokens,
          embedding: vectors[index] ?? [],
        })),
      );
      await progress(((start + group.length) / chunks.length) * 100);
    }
    const live = await activateVersion(deps.db, documentId, version, deps.clock.now());
    if (!live) {
      await dropStaleChunks(deps.db, documentId, version);
      return { documentId, superseded: true };
    }
    logger.info({ documentId, version, chunks: chunks.length }, 'document indexed');
    return { documentId, version, chunks: chunks.length };
  },
});
