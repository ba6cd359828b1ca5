/**
 * Errors that mean a dependency (PostgreSQL, Redis) is unreachable right now, as drivers
 * raise them. They are the service's trouble, not the client's, and not a bug either: the
 * answer is 503, retry later.
 */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // postgres.js
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  // PostgreSQL: shutting down, cannot connect now, too many connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

// ioredis says so in words: offline queue disabled, connection closed, command timed out;
// its cluster client: not connected yet, no node answered, the cluster lost a slot's node.
const REDIS_MESSAGES =
  /Stream isn't writeable|Connection is closed|Command timed out|Reached the max retries per request|Cluster isn't ready|Failed to refresh slots cache|CLUSTERDOWN|Too many Cluster redirections/;

/**
 * A dependency this work needs is unreachable, said in words for the caller (`The job queue
 * is unavailable`). Thrown by core pieces (the job queue) that must not speak HTTP: the
 * app answers it 503, a script prints it.
 */
export class DependencyUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
  }
}

export function isDependencyUnavailable(error: unknown, depth = 0): boolean {
  if (error instanceof DependencyUnavailableError) return true;
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const code = 'code' in error ? String(error.code) : '';
  // 08xxx: PostgreSQL's connection exception class.
  if (NETWORK_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  if (
    error instanceof Error &&
    (error.name === 'MaxRetriesPerRequestError' || REDIS_MESSAGES.test(error.message))
  )
    return true;
  return 'cause' in error && isDependencyUnavailable(error.cause, depth + 1);
}
