import type { AiModel, Settings } from '../../core/settings.ts';
import { LOCAL_EMBEDDING_DIMENSIONS } from './local-model.ts';

/**
 * The built-in development model: deterministic, free, and named so nobody mistakes its
 * answers for a real model's. It serves when no `AI_UPSTREAM_URL` is set, so the whole
 * gateway works offline.
 */
export const LOCAL_MODEL: AiModel = {
  id: 'dev-local-echo',
  kind: 'chat',
  inputPrice: '0',
  cachedInputPrice: '0',
  outputPrice: '0',
  contextWindow: 8_192,
  maxOutput: 1_024,
  variableDimensions: false,
  fallbacks: [],
};

/**
 * The built-in development embeddings: hashed word counts, normalised (`embedLocally`), so
 * texts that share words are closer than texts that do not, deterministically and offline.
 */
export const LOCAL_EMBEDDINGS_MODEL: AiModel = {
  id: 'dev-local-embed',
  kind: 'embeddings',
  inputPrice: '0',
  cachedInputPrice: '0',
  outputPrice: '0',
  contextWindow: 8_192,
  maxOutput: 0,
  dimensions: LOCAL_EMBEDDING_DIMENSIONS,
  variableDimensions: true,
  fallbacks: [],
};

/** The models the gateway offers, by client-facing id. */
export interface ModelCatalog {
  readonly models: readonly AiModel[];
  find(id: string): AiModel | undefined;
  /** The first embeddings model of the table: what a collection embeds with by default. */
  defaultEmbeddings(): AiModel | undefined;
  /** `id`, then its fallbacks in order, each known and each once. */
  chain(id: string): AiModel[];
  /** The upstream's name for `model`. */
  upstreamName(model: AiModel): string;
}

export function modelCatalog(
  settings: Pick<Settings, 'AI_UPSTREAM_URL' | 'AI_MODELS'>,
): ModelCatalog {
  const models = settings.AI_UPSTREAM_URL
    ? (settings.AI_MODELS ?? [])
    : [LOCAL_MODEL, LOCAL_EMBEDDINGS_MODEL];
  const byId = new Map(models.map((model) => [model.id, model]));
  return {
    models,
    find: (id) => byId.get(id),
    defaultEmbeddings: () => models.find((model) => model.kind === 'embeddings'),
    chain(id) {
      const first = byId.get(id);
      if (!first) return [];
      const chain = [first];
      for (const next of first.fallbacks) {
        const model = byId.get(next);
        if (model && !chain.includes(model)) chain.push(model);
      }
      return chain;
    },
    upstreamName: (model) => model.upstream ?? model.id,
  };
}
