import { ForbiddenError } from '../../core/domain-errors.ts';
import type { ChatMessage } from './ai.schemas.ts';
import { findCollection, type SearchHit, searchCollection } from './documents.service.ts';
import type { EmbeddingsContext } from './embeddings.service.ts';
import type { Caller } from './limits.ts';
import { countTextTokens, messageText } from './tokens.ts';

/** What a chat request names to be grounded in. */
export interface RetrievalRequest {
  collection_id: string;
  top_k?: number | undefined;
}

/** A chunk the answer was given as context, for the client to cite. */
export interface Citation {
  /** The number the context gave it: `[1]`, `[2]`... */
  index: number;
  document_id: string;
  document_name: string;
  chunk_id: string;
  chunk_index: number;
  score: number;
}

const INSTRUCTIONS =
  'Answer from the numbered excerpts below where they help, citing them by number, like [1]. If they do not hold the answer, say so.';

/**
 * The messages with the collection's chunks closest to the last user message put before
 * them as a system message, as many as fit `room` tokens (best first), and what they are.
 */
export async function groundMessages(
  ctx: EmbeddingsContext,
  caller: Caller,
  messages: readonly ChatMessage[],
  retrieval: RetrievalRequest,
  options: { room: number; signal: AbortSignal },
): Promise<{ messages: ChatMessage[]; citations: Citation[] }> {
  // A key made for chat alone must not read documents through an answer.
  if (caller.scopes && !caller.scopes.has('ai:documents')) {
    throw new ForbiddenError('Grounding a chat in a collection needs the ai:documents scope');
  }
  const collection = await findCollection(ctx.db, caller.userId, retrieval.collection_id);
  const question = [...messages].reverse().find((message) => message.role === 'user');
  const query = question ? messageText(question).trim() : '';
  if (query === '') return { messages: [...messages], citations: [] };
  const { hits } = await searchCollection(ctx, caller, collection, query, {
    topK: retrieval.top_k ?? 4,
    signal: options.signal,
  });
  const kept: SearchHit[] = [];
  let used = (await countTextTokens(INSTRUCTIONS)) + 8;
  for (const hit of hits) {
    const tokens = (await countTextTokens(hit.text)) + 12;
    if (used + tokens > options.room) break;
    kept.push(hit);
    used += tokens;
  }
  if (kept.length === 0) return { messages: [...messages], citations: [] };
  const context = kept
    .map((hit, index) => `[${index + 1}] ${hit.documentName}, part ${hit.seq + 1}:\n${hit.text}`)
    .join('\n\n');
  return {
    messages: [{ role: 'system', content: `${INSTRUCTIONS}\n\n${context}` }, ...messages],
    citations: kept.map((hit, index) => ({
      index: index + 1,
      document_id: hit.documentId,
      document_name: hit.documentName,
      chunk_id: hit.chunkId,
      chunk_index: hit.seq,
      score: hit.score,
    })),
  };
}
