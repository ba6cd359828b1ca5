import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../core/logger.ts';
import { fromUpstreamError, UpstreamAccessError } from './ai-errors.ts';
import { UpstreamError } from './upstream.ts';

export interface RetryPolicy {
  /** Tries after the first. */
  maxRetries: number;
  /** The first retry waits about this long; each next one twice as long. */
  baseDelayMs: number;
  /** No wait is longer: an upstream asking for more is not retried (the fallback goes next). */
  maxDelayMs: number;
  /** Up to this share of a computed wait is taken off at random, so callers spread out. */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: Omit<RetryPolicy, 'maxRetries'> = {
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  jitter: 0.5,
};

/**
 * The wait before retry number `retry` (1 for the first): what the upstream asked for
 * (`Retry-After`, `retry-after-ms`) when it did, else exponential backoff with jitter.
 * Undefined when the upstream asks for longer than the policy waits.
 */
export function retryDelay(
  retry: number,
  policy: RetryPolicy,
  retryAfterMs: number | undefined,
  random = Math.random(),
): number | undefined {
  if (retryAfterMs !== undefined)
    return retryAfterMs <= policy.maxDelayMs ? retryAfterMs : undefined;
  const full = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(full * (1 - policy.jitter * random));
}

/**
 * Runs `attempt`, and again after a wait while it fails with a retryable `UpstreamError`, up
 * to `policy.maxRetries` times. Anything else (a client error, an abort) ends it at once.
 * `onRetry` hears of each retry, for logs and metrics.
 */
export async function withRetries<T>(
  attempt: (tryNumber: number) => Promise<T>,
  options: {
    policy: RetryPolicy;
    signal: AbortSignal;
    onRetry?: (error: UpstreamError, retry: number, delayMs: number) => void;
  },
): Promise<T> {
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return await attempt(tryNumber);
    } catch (error) {
      const retry = tryNumber;
      if (
        !(error instanceof UpstreamError) ||
        !error.retryable ||
        retry > options.policy.maxRetries
      ) {
        throw error;
      }
      const delay = retryDelay(retry, options.policy, error.retryAfterMs);
      if (delay === undefined) throw error;
      options.onRetry?.(error, retry, delay);
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}

/**
 * An upstream's failure as the caller is told it (`fromUpstreamError`, decision 031). One
 * that is the operator's to fix is logged as such: its answer (502) names no cause the
 * caller could act on.
 */
export function upstreamFailure(logger: Logger, error: unknown): unknown {
  const failure = fromUpstreamError(error);
  if (failure instanceof UpstreamAccessError) {
    logger.error(
      { err: error },
      'the AI provider refused the gateway’s credentials: check AI_UPSTREAM_API_KEY and its access to the models',
    );
  }
  return failure;
}
