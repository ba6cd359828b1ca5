import type { Deps } from '../../core/deps.ts';

export interface CheckResult {
  status: 'ok' | 'failed';
  durationMs: number;
  error?: string;
}

type Check = () => Promise<unknown>;

function withTimeout(check: Check, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([check(), timeout]).finally(() => clearTimeout(timer));
}

async function runCheck(check: Check, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withTimeout(check, timeoutMs);
    return { status: 'ok', durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      status: 'failed',
      durationMs: Math.round(performance.now() - started),
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/**
 * Asks each configured dependency to answer, all at once, each within the readiness
 * timeout. A dependency that is not configured (Redis in development) is not checked.
 */
export async function checkReadiness(
  deps: Pick<Deps, 'database' | 'redis' | 'settings'>,
): Promise<Record<string, CheckResult>> {
  const checks: Record<string, Check> = { database: () => deps.database.ping() };
  const { redis } = deps;
  if (redis) checks.redis = () => redis.ping();
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map((name) => runCheck(checks[name] as Check, deps.settings.READINESS_TIMEOUT_MS)),
  );
  return Object.fromEntries(names.map((name, index) => [name, results[index] as CheckResult]));
}
