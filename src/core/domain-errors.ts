import type { RateLimitPolicy } from './rate-limit/rate-limiter.ts';

/**
 * A failure the caller can act on, in the domain's words. Services, jobs and scripts throw
 * these and know nothing of HTTP; the app's error handler is the one place that turns them
 * into problem documents (`problemFromDomainError`).
 */
export abstract class DomainError extends Error {}

/** What was asked for does not exist, or is not the caller's to see. */
export class NotFoundError extends DomainError {
  constructor(what: string) {
    super(`No such ${what}`);
    this.name = 'NotFoundError';
  }
}

/** The change would break a rule of the current state, such as a unique name. */
export class ConflictError extends DomainError {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** The caller named a version of the resource that is no longer current. */
export class StaleVersionError extends DomainError {
  constructor(message: string) {
    super(message);
    this.name = 'StaleVersionError';
  }
}

/** The caller may not do this, whoever asks again. */
export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/** One field of the input that a service (not a schema) found wrong. */
export interface InvalidField {
  /** Where the field came from; `body` unless said otherwise. */
  location?: 'path' | 'query' | 'header' | 'cookie' | 'body';
  path: string;
  message: string;
  code: string;
}

/** Input that passed the schemas but not a rule only the service can check. */
export class InvalidInputError extends DomainError {
  readonly fields: readonly InvalidField[];

  constructor(message: string, fields: readonly InvalidField[]) {
    super(message);
    this.name = 'InvalidInputError';
    this.fields = fields;
  }
}

/** Too many attempts under `policy`; the caller may try again after `retryAfterSeconds`. */
export class TooManyAttemptsError extends DomainError {
  readonly policy: RateLimitPolicy;
  readonly retryAfterSeconds: number;

  constructor(message: string, policy: RateLimitPolicy, retryAfterSeconds: number) {
    super(message);
    this.name = 'TooManyAttemptsError';
    this.policy = policy;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
