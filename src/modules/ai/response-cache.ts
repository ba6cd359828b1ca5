import { hash } from 'node:crypto';
import type { Logger } from '../../core/logger.ts';
import type { Redis } from '../../core/redis.ts';
import { ttlCache } from '../../core/ttl-cache.ts';
import {
  ChatCompletion,
  type ChatCompletionRequest,
  type ChatCompletion as Completion,
} from './ai.schemas.ts';

/** Fields that change how an answer is delivered, not what it says. */
const DELIVERY_ONLY = new Set(['stream', 'stream_options', 'user']);

/** JSON with object keys sorted at every depth: the same request always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonical(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The key of a request's answer: a hash of everything that shapes it (the model, the messages
 * as sent after guards and truncation, every parameter and tool), not of how it is delivered.
 */
export function answerKey(request: ChatCompletionRequest): string {
  const shaping = Object.fromEntries(
    Object.entries(request).filter(([name]) => !DELIVERY_ONLY.has(name)),
  );
  return hash('sha256', canonical(shaping), 'base64url');
}

/** Whether a request asks for the same answer every time: temperature 0, or a seed. */
export function isDeterministic(request: ChatCompletionRequest): boolean {
  return request.temperature === 0 || request.seed !== undefined;
}

/** Answers by key, kept for a while; a failing store never fails a call (it is only a cache). */
export interface ResponseCache {
  get(key: string): Promise<Completion | undefined>;
  set(key: string, completion: Completion, ttlSeconds: number): Promise<void>;
}

export function redisResponseCache(redis: Redis, logger: Logger): ResponseCache {
  const keyOf = (key: string) => `ai:answer:${key}`;
  return {
    async get(key) {
      try {
        const text = await redis.get(keyOf(key));
        if (text === null) return undefined;
        const parsed = ChatCompletion.safeParse(JSON.parse(text));
        return parsed.success ? parsed.data : undefined;
      } catch (error) {
        logger.warn({ err: error }, 'AI answer cache unavailable; calling the model');
        return undefined;
      }
    },
    async set(key, completion, ttlSeconds) {
      try {
        await redis.set(keyOf(key), JSON.stringify(completion), 'EX', ttlSeconds);
      } catch (error) {
        logger.warn({ err: error }, 'could not store an AI answer in the cache');
      }
    },
  };
}

export function memoryResponseCache(): ResponseCache {
  const answers = ttlCache<string, Completion>({ max: 1_000, ttlMs: 3_600_000 });
  return {
    async get(key) {
      return answers.get(key);
    },
    async set(key, completion, ttlSeconds) {
      answers.set(key, completion, { ttl: ttlSeconds * 1000 });
    },
  };
}
