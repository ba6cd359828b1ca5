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
  return sqlStateOf(error) === UNIQUE_VIOLATION;
}

/**
 * True when PostgreSQL refused a value itself (SQLSTATE class 22, "data exception": a NUL
 * byte, a number out of range, text too long, a malformed uuid...). Validation should have
 * stopped such a value first; when it did not, the client still sent it, so the answer is
 * a 4xx, and the gap in validation is logged as a bug.
 */
export function isDataException(error: unknown): boolean {
  return /^22[0-9A-Z]{3}$/.test(sqlStateOf(error) ?? '');
}

/** The SQLSTATE of a database error (driver's or wrapped by drizzle), if it has one. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = codeOf(error);
  return typeof code === 'string' ? code : undefined;
}
