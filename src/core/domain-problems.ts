import {
  ConflictError,
  type DomainError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  StaleVersionError,
  TooManyAttemptsError,
} from './domain-errors.ts';
import { ProblemError } from './problem.ts';
import { rateLimitHeaders } from './rate-limit/rate-limit-middleware.ts';

/**
 * The one mapping from the domain's errors to HTTP: each kind of `DomainError` has its status
 * and problem document here (undefined for a kind it does not know). A module's own domain errors (OAuth's `invalid_grant`) are mapped
 * by its routes.
 */
export function problemFromDomainError(error: DomainError): ProblemError | undefined {
  const detail = error.message;
  if (error instanceof NotFoundError) return new ProblemError(404, { detail });
  if (error instanceof ConflictError) return new ProblemError(409, { detail });
  if (error instanceof StaleVersionError) return new ProblemError(412, { detail });
  if (error instanceof ForbiddenError) return new ProblemError(403, { detail });
  if (error instanceof InvalidInputError) {
    const errors = error.fields.map(({ location, path, message, code }) => ({
      location: location ?? 'body',
      path,
      message,
      code,
    }));
    return new ProblemError(422, { detail, extensions: { errors } });
  }
  if (error instanceof TooManyAttemptsError) {
    const seconds = error.retryAfterSeconds;
    return new ProblemError(429, {
      detail,
      headers: { ...rateLimitHeaders(error.policy, 0, seconds), 'retry-after': String(seconds) },
    });
  }
  // A kind nobody mapped: the caller treats it as the bug it is.
  return undefined;
}
