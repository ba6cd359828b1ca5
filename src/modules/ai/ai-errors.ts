import { DomainError } from '../../core/domain-errors.ts';
import { ProblemError } from '../../core/problem.ts';
import { GuardBlockedError } from './guards.ts';
import { UpstreamError } from './upstream.ts';

/** The model asked for is not in the gateway's table. */
export class ModelNotFoundError extends DomainError {
  constructor(model: string) {
    super(`No model is named ${model}; GET /v1/models lists them`);
    this.name = 'ModelNotFoundError';
  }
}

/** The prompt and the output cap do not fit the model's context window. */
export class ContextLengthError extends DomainError {
  constructor(promptTokens: number, outputCap: number, window: number) {
    super(
      `The prompt takes ${promptTokens} tokens and the answer may take ${outputCap}: more than the model's ${window}. Shorten it, lower max_tokens, or send "truncation": "auto" to drop the oldest turns`,
    );
    this.name = 'ContextLengthError';
  }
}

/** One text of an embeddings call is longer than the model's input window. */
export class InputTooLongError extends DomainError {
  constructor(index: number, tokens: number, window: number) {
    super(
      `Input ${index} takes ${tokens} tokens, more than the model's ${window}; split it into shorter texts`,
    );
    this.name = 'InputTooLongError';
  }
}

/** Requests or tokens per minute used up, for this key (or user). */
export class AiRateLimitError extends DomainError {
  readonly retryAfterSeconds: number;
  readonly headers: Record<string, string>;

  constructor(
    what: 'requests' | 'tokens',
    retryAfterSeconds: number,
    headers: Record<string, string>,
  ) {
    super(`Too many ${what} per minute for this key; retry after ${retryAfterSeconds} s`);
    this.name = 'AiRateLimitError';
    this.retryAfterSeconds = retryAfterSeconds;
    this.headers = headers;
  }
}

/** A spend budget is used up until its period ends: not a rate limit, waiting will not help soon. */
export class BudgetExceededError extends DomainError {
  readonly periodEndsAt: Date;

  constructor(subject: 'user' | 'api_key', limitUsd: string, periodEndsAt: Date) {
    super(
      `The ${subject === 'api_key' ? 'API key' : 'account'}'s budget of ${limitUsd} USD is used up until ${periodEndsAt.toISOString()}`,
    );
    this.name = 'BudgetExceededError';
    this.periodEndsAt = periodEndsAt;
  }
}

/** The answer never fit a template's output schema, asked again as often as allowed. */
export class InvalidOutputError extends DomainError {
  constructor(problem: string, attempts: number) {
    super(
      `The model's answer did not fit the template's output schema after ${attempts} tries: ${problem}`,
    );
    this.name = 'InvalidOutputError';
  }
}

/** Every model of the chain failed, and no fallback answer is configured. */
export class UpstreamFailedError extends DomainError {
  constructor(message: string) {
    super(`The model could not answer: ${message}`);
    this.name = 'UpstreamFailedError';
  }
}

/**
 * The provider refused the request as invalid (its 400, 404, 422...): a parameter it does not
 * take, a value out of its range. The caller's to fix, so not retried and no other model
 * tried; told in the provider's words, with its `code` and `param` (decision 031).
 */
export class UpstreamRejectedError extends DomainError {
  readonly upstreamStatus: number;
  readonly code: string | undefined;
  readonly param: string | undefined;

  constructor(upstreamStatus: number, reason: string, code?: string, param?: string) {
    super(`The model provider refused the request: ${reason}`);
    this.name = 'UpstreamRejectedError';
    this.upstreamStatus = upstreamStatus;
    this.code = code;
    this.param = param;
  }
}

/**
 * The provider refused the gateway's own credentials (401, 403): the key in
 * `AI_UPSTREAM_API_KEY`, or its access to the model. Its operator's to fix, not the caller's
 * (decision 031).
 */
export class UpstreamAccessError extends DomainError {
  readonly upstreamStatus: number;

  constructor(upstreamStatus: number) {
    super(
      `The model provider refused the gateway's credentials (${upstreamStatus}); this is the service's configuration, not your request`,
    );
    this.name = 'UpstreamAccessError';
    this.upstreamStatus = upstreamStatus;
  }
}

/**
 * An upstream's failure in the domain's words (decision 031): a request it refused as invalid
 * (any 4xx but 401, 403, 408 and 429) is `UpstreamRejectedError`; its refusal of the gateway's
 * credentials (401, 403) is `UpstreamAccessError`; anything else (a 5xx, 408 or 429 once the
 * retries are spent, no answer at all) is `UpstreamFailedError`. Errors that are not the
 * upstream's are given back as they are.
 */
export function fromUpstreamError(error: unknown): unknown {
  if (!(error instanceof UpstreamError)) return error;
  const { status } = error;
  if (status === 401 || status === 403) return new UpstreamAccessError(status);
  if (status !== undefined && status >= 400 && status < 500 && !error.retryable) {
    return new UpstreamRejectedError(status, error.reason, error.code, error.param);
  }
  return new UpstreamFailedError(error.message);
}

/** The model exists, but is not one for this operation (an embeddings model asked to chat). */
export class WrongModelKindError extends DomainError {
  constructor(model: string, wanted: 'chat' | 'embeddings') {
    super(
      `${model} is not ${wanted === 'chat' ? 'a chat' : 'an embeddings'} model; GET /v1/models says what each model is for`,
    );
    this.name = 'WrongModelKindError';
  }
}

/**
 * The database has no vector store: PostgreSQL without the pgvector extension. Not a
 * passing outage (no retry helps) and not the caller's fault: 503, saying what is missing.
 */
export class VectorStoreUnavailableError extends DomainError {
  constructor() {
    super(
      "Retrieval needs PostgreSQL's pgvector extension, which this database does not have. Install it on the server (the compose file's pgvector/pgvector image has it), then run `select ai_enable_vector_store();` once as the owner of the schema",
    );
    this.name = 'VectorStoreUnavailableError';
  }
}

/**
 * The AI module's domain errors as problem documents (the module's part of the one
 * mapping), each with an OpenAI error `code` a client can act on. Undefined for errors that
 * are not the module's.
 */
export function aiProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ModelNotFoundError) {
    return new ProblemError(404, {
      detail: error.message,
      extensions: { code: 'model_not_found' },
    });
  }
  if (error instanceof ContextLengthError) {
    return new ProblemError(400, {
      detail: error.message,
      extensions: { code: 'context_length_exceeded' },
    });
  }
  if (error instanceof AiRateLimitError) {
    return new ProblemError(429, {
      detail: error.message,
      headers: { ...error.headers, 'retry-after': String(error.retryAfterSeconds) },
      extensions: { code: 'rate_limit_exceeded' },
    });
  }
  if (error instanceof BudgetExceededError) {
    return new ProblemError(402, {
      title: 'Budget Exceeded',
      detail: error.message,
      extensions: { code: 'insufficient_quota', periodEndsAt: error.periodEndsAt.toISOString() },
    });
  }
  if (error instanceof InputTooLongError) {
    return new ProblemError(400, {
      detail: error.message,
      extensions: { code: 'context_length_exceeded' },
    });
  }
  if (error instanceof WrongModelKindError) {
    return new ProblemError(400, { detail: error.message, extensions: { code: 'invalid_model' } });
  }
  if (error instanceof VectorStoreUnavailableError) {
    return new ProblemError(503, {
      title: 'Vector Store Unavailable',
      detail: error.message,
      extensions: { code: 'vector_extension_missing' },
    });
  }
  if (error instanceof GuardBlockedError) {
    return new ProblemError(400, {
      title: 'Blocked by a Guard',
      detail: error.message,
      extensions: { code: 'content_filter', guard: error.guard, stage: error.stage },
    });
  }
  if (error instanceof InvalidOutputError) {
    return new ProblemError(502, { detail: error.message, extensions: { code: 'invalid_output' } });
  }
  if (error instanceof UpstreamFailedError) {
    return new ProblemError(502, { detail: error.message, extensions: { code: 'upstream_error' } });
  }
  if (error instanceof UpstreamRejectedError) {
    return new ProblemError(400, {
      title: 'Refused by the Model Provider',
      detail: error.message,
      extensions: {
        code: error.code ?? 'upstream_rejected',
        ...(error.param === undefined ? {} : { param: error.param }),
        upstreamStatus: error.upstreamStatus,
      },
    });
  }
  if (error instanceof UpstreamAccessError) {
    return new ProblemError(502, {
      detail: error.message,
      extensions: { code: 'upstream_access_denied' },
    });
  }
  return undefined;
}

/** OpenAI's error `type` for a status, so OpenAI clients report errors properly. */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'insufficient_quota';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}
