import { hash } from 'node:crypto';
import type { Logger } from '../../core/logger.ts';
import type { Redis } from '../../core/redis.ts';
import { ttlCache } from '../../core/ttl-cache.ts';

/**
 * Vectors by input, kept for a while. An embedding is deterministic (a model gives one text
 * one vector), so each input is cached on its own: a document indexed again, or a question
 * asked again, pays only for the texts it has not sent before. A failing store never fails
 * a call; it is only a cache.
 */
export interface EmbeddingCache {
  /** One entry per key, in order: the vector, or undefined when it is not cached. */
  getMany(keys: readonly string[]): Promise<(Float32Array | undefined)[]>;
  setMany(
    entries: readonly [key: string, vector: Float32Array][],
    ttlSeconds: number,
  ): Promise<void>;
}

/** The key of one input's vector: the model (as the upstream names it), its length, the text. */
export function embeddingKey(upstreamModel: string, dimensions: number, text: string): string {
  return hash('sha256', `${upstreamModel}\u0000${dimensions}\u0000${text}`, 'base64url');
}

/** Float32, little-endian: 4 bytes a dimension, as OpenAI's `base64` encoding sends them. */
export function vectorBytes(vector: Float32Array): Buffer {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, index) => {
    bytes.writeFloatLE(value, index * 4);
  });
  return bytes;
}

export function vectorFromBytes(bytes: Buffer): Float32Array {
  const vector = new Float32Array(bytes.length / 4);
  for (let index = 0; index < vector.length; index++) vector[index] = bytes.readFloatLE(index * 4);
  return vector;
}

export function redisEmbeddingCache(redis: Redis, logger: Logger): EmbeddingCache {
  const keyOf = (key: string) => `ai:embedding:${key}`;
  return {
    async getMany(keys) {
      if (keys.length === 0) return [];
      try {
        // One GET per text rather than an MGET: on a Redis Cluster the keys live on many
        // nodes, and one command may only touch one slot. They still go out together.
        const found = await Promise.all(keys.map((key) => redis.getBuffer(keyOf(key))));
        return found.map((bytes) => (bytes ? vectorFromBytes(bytes) : undefined));
      } catch (error) {
        logger.warn({ err: error }, 'AI embedding cache unavailable; calling the model');
        return keys.map(() => undefined);
      }
    },
    async setMany(entries, ttlSeconds) {
      if (entries.length === 0 || ttlSeconds <= 0) return;
      try {
        // Side by side, not one pipeline, for the same reason.
        await Promise.all(
          entries.map(([key, vector]) =>
            redis.set(keyOf(key), vectorBytes(vector), 'EX', ttlSeconds),
          ),
        );
      } catch (error) {
        logger.warn({ err: error }, 'could not store AI embeddings in the cache');
      }
    },
  };
}

export function memoryEmbeddingCache(): EmbeddingCache {
  const vectors = ttlCache<string, Float32Array>({ max: 10_000, ttlMs: 3_600_000 });
  return {
    async getMany(keys) {
      return keys.map((key) => vectors.get(key));
    },
    async setMany(entries, ttlSeconds) {
      if (ttlSeconds <= 0) return;
      for (const [key, vector] of entries) vectors.set(key, vector, { ttl: ttlSeconds * 1000 });
    },
  };
}
