import type { Deps } from '../../core/deps.ts';
import { defineModule } from '../../core/module.ts';
import type { ScopeNames } from '../../core/security/scopes.ts';
import { aiRoutes } from './ai.routes.ts';
import { aiProblem } from './ai-errors.ts';
import { runBatch } from './batches.jobs.ts';
import { batchRoutes } from './batches.routes.ts';
import { chatPage } from './chat-page.ts';
import { indexDocument } from './documents.jobs.ts';
import { documentRoutes } from './documents.routes.ts';
import { embeddingRoutes } from './embeddings.routes.ts';

const scopes = {
  'ai:chat': {
    description: 'Call the AI gateway: chat completions, embeddings, models, your usage',
  },
  // Their own scopes: a batch spends for hours unattended, and documents are kept data; a
  // key made for interactive chat should not do either unless it was made to.
  'ai:batch': { description: 'Run batches of chat completions and download their results' },
  'ai:documents': {
    description: 'Keep collections of documents, search them, and ground chat answers in them',
  },
} as const;

declare module '../../core/security/scopes.ts' {
  interface ScopeRegistry extends ScopeNames<typeof scopes> {}
}

/** The gateway's operations: chat and its policies first, then what builds on it. */
function routes(deps: Deps) {
  return aiRoutes(deps)
    .route('/', embeddingRoutes(deps))
    .route('/', batchRoutes(deps))
    .route('/', documentRoutes(deps));
}

/**
 * The AI gateway, the template's second worked example: an OpenAI-compatible chat endpoint
 * with streaming, usage and exact cost, budgets and limits, retries and fallbacks, a cache
 * that shares identical calls, and guards; embeddings through the same policies.
 */
export const aiModule = defineModule({
  name: 'ai',
  tag: {
    name: 'ai',
    description:
      'An OpenAI-compatible gateway: chat completions (streamed or not), embeddings, models, usage and cost, budgets.',
  },
  scopes,
  routes,
  pages: chatPage,
  problems: aiProblem,
  jobs: [runBatch, indexDocument],
});
