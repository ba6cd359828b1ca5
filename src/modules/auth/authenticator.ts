import type { Clock } from '../../core/clock.ts';
import type { Database } from '../../core/db/database.ts';
import type { Logger } from '../../core/logger.ts';
import type { AccessTokenCodec } from '../../core/security/access-tokens.ts';
import type { Authenticator, AuthResult } from '../../core/security/principal.ts';
import { type Role, type Scope, scopesForRole } from '../../core/security/scopes.ts';
import { TtlCache } from '../../core/ttl-cache.ts';
import {
  type ApiKey,
  findApiKeyByHash,
  hashApiKey,
  touchApiKey,
} from '../api-keys/api-keys.service.ts';
import { findUserById } from '../users/users.service.ts';

interface AccountStatus {
  role: Role;
  isActive: boolean;
}

/** `last_used_at` is informative; writing it once a minute per key and process is plenty. */
const TOUCH_INTERVAL_MS = 60_000;

export interface AuthenticatorOptions {
  db: Database;
  clock: Clock;
  tokens: AccessTokenCodec;
  logger: Logger;
  /** The longest a revocation or deactivation takes to be seen by this process. */
  cacheTtlMs: number;
}

/**
 * Verifies bearer tokens and API keys. Neither costs a database round trip per request:
 * tokens are checked by signature, and key records and account status are cached for
 * `cacheTtlMs`, after which every process reads them again. A key revoked or an account
 * deactivated in one process is therefore refused by all within `cacheTtlMs`.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { db, clock, tokens, logger, cacheTtlMs } = options;
  const accounts = new TtlCache<AccountStatus | null>({ ttlMs: cacheTtlMs, maxEntries: 10_000 });
  const keys = new TtlCache<ApiKey>({ ttlMs: cacheTtlMs, maxEntries: 10_000 });
  // Unknown keys are remembered apart, so a flood of made-up keys cannot evict real ones.
  const unknownKeys = new TtlCache<true>({ ttlMs: cacheTtlMs, maxEntries: 1_000 });
  const lastTouched = new Map<string, number>();

  async function accountStatus(userId: string): Promise<AccountStatus | null> {
    const cached = accounts.get(userId);
    if (cached !== undefined) return cached;
    const user = await findUserById(db, userId);
    const status = user ? { role: user.role, isActive: user.isActive } : null;
    accounts.set(userId, status);
    return status;
  }

  async function apiKeyRecord(key: string): Promise<ApiKey | undefined> {
    const hash = hashApiKey(key);
    const cached = keys.get(hash);
    if (cached || unknownKeys.get(hash)) return cached;
    const record = await findApiKeyByHash(db, hash);
    if (record) keys.set(hash, record);
    else unknownKeys.set(hash, true);
    return record;
  }

  function touch(record: ApiKey, now: Date): void {
    const last = lastTouched.get(record.id) ?? 0;
    if (now.getTime() - last < TOUCH_INTERVAL_MS) return;
    lastTouched.set(record.id, now.getTime());
    touchApiKey(db, record.id, now).catch((error: unknown) => {
      logger.warn({ err: error, apiKeyId: record.id }, 'could not record API key use');
    });
  }

  /** The credential's scopes, narrowed to what the account's role allows now. */
  function effectiveScopes(granted: readonly string[], role: Role): Set<Scope> {
    const allowed = new Set<string>(granted);
    return new Set(scopesForRole(role).filter((scope) => allowed.has(scope)));
  }

  async function viaApiKey(key: string, now: Date): Promise<AuthResult> {
    const record = await apiKeyRecord(key);
    if (!record) return { ok: false, reason: 'invalid' };
    if (record.revokedAt) return { ok: false, reason: 'revoked' };
    if (record.expiresAt && record.expiresAt <= now) return { ok: false, reason: 'expired' };
    const account = await accountStatus(record.userId);
    if (!account) return { ok: false, reason: 'invalid' };
    if (!account.isActive) return { ok: false, reason: 'inactive' };
    touch(record, now);
    return {
      ok: true,
      principal: {
        userId: record.userId,
        role: account.role,
        scopes: effectiveScopes(record.scopes, account.role),
        via: 'api_key',
        credentialId: record.id,
      },
    };
  }

  async function viaToken(authorization: string, now: Date): Promise<AuthResult> {
    const match = /^Bearer\s+([A-Za-z0-9_.~+/-]+=*)\s*$/i.exec(authorization);
    if (!match?.[1]) return { ok: false, reason: 'invalid' };
    const claims = await tokens.verify(match[1], now);
    if (claims === 'expired' || claims === 'invalid') return { ok: false, reason: claims };
    const account = await accountStatus(claims.userId);
    if (!account) return { ok: false, reason: 'invalid' };
    if (!account.isActive) return { ok: false, reason: 'inactive' };
    return {
      ok: true,
      principal: {
        userId: claims.userId,
        role: account.role,
        scopes: effectiveScopes(claims.scopes, account.role),
        via: 'token',
        credentialId: claims.jti,
      },
    };
  }

  return {
    async authenticate({ authorization, apiKey }) {
      const now = clock.now();
      if (apiKey !== undefined) return viaApiKey(apiKey, now);
      if (authorization !== undefined) return viaToken(authorization, now);
      return { ok: false, reason: 'missing' };
    },
  };
}
