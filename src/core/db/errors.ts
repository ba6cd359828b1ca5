/** PostgreSQL's code for a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

function codeOf(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return undefined;
  if ('code' in error && typeof error.code === 'string') return error.code;
  // drizzle wraps driver errors; the driver's error is the cause.
  return 'cause' in error ? codeOf(error.cause) : undefined;
}

/** True when `error` (from postgres.js or PGlite, wrapped by drizzle or not) broke a unique key. */
export function isUniqueViolation(error: unknown): boolean {
  return codeOf(error) === UNIQUE_VIOLATION;
}
