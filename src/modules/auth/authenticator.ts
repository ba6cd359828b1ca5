import { LRUCache } from 'lru-cache';
import type { Clock } from '../../core/clock.ts';
import type { Database } from '../../core/db/database.ts';
import type { InvalidationBus } from '../../core/invalidation-bus.ts';
import { localCache } from '../../core/local-cache.ts';
import type { Logger } from '../../core/logger.ts';
import type { AccessTokenClaims, AccessTokenCodec } from '../../core/security/access-tokens.ts';
import type { Authenticator, AuthResult, CredentialChange } from '../../core/security/principal.ts';
import type { Role, Scope, ScopeCatalog } from '../../core/security/scopes.ts';
import { ttlCache } from '../../core/ttl-cache.ts';
import {
  API_KEY_PREFIX,
  type ApiKey,
  findApiKeyByHash,
  hashApiKey,
  touchApiKey,
} from '../api-keys/api-keys.service.ts';
import { findUserById } from '../users/users.service.ts';
import { liveSessionOwner } from './auth.service.ts';

interface AccountStatus {
  role: Role;
  isActive: boolean;
}

/** A live session's user (kept so a change to the account drops it), or ended. */
type SessionStatus = { userId: string } | 'ended';

const BEARER = /^Bearer\s+([A-Za-z0-9_.~+/-]+=*)\s*$/i;

/** `last_used_at` is informative; writing it once a minute per key and process is plenty. */
const TOUCH_INTERVAL_MS = 60_000;
const CACHED_ENTRIES = 10_000;

export interface AuthenticatorOptions {
  db: Database;
  clock: Clock;
  tokens: AccessTokenCodec;
  scopes: ScopeCatalog;
  logger: Logger;
  /** The longest a change takes to be seen by this process when invalidations are lost. */
  cacheTtlMs: number;
  /** Carries `forget` to every process: through Redis, or within this one. */
  invalidations: InvalidationBus;
}

/** How a change travels on the bus: `user:<id>`, `api-key:<id>`, `session:<id>`. */
function encodeChange(change: CredentialChange): string {
  if ('userId' in change) return `user:${change.userId}`;
  if ('apiKeyId' in change) return `api-key:${change.apiKeyId}`;
  return `session:${change.sessionId}`;
}

function decodeChange(message: string): CredentialChange | undefined {
  const [kind, id] = [
    message.slice(0, message.indexOf(':')),
    message.slice(message.indexOf(':') + 1),
  ];
  if (!id) return undefined;
  if (kind === 'user') return { userId: id };
  if (kind === 'api-key') return { apiKeyId: id };
  if (kind === 'session') return { sessionId: id };
  return undefined;
}

/**
 * Verifies bearer tokens and API keys. Neither costs a database round trip per request:
 * tokens are checked by signature, and key records, account status and session status are
 * cached per process. A change (`forget`) drops the cached copy here at once and in every
 * other process through the invalidation bus; `cacheTtlMs` bounds how stale a copy can get
 * when the bus is down.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { db, clock, tokens, scopes, logger, cacheTtlMs, invalidations } = options;
  const accounts = localCache<AccountStatus | null>({
    max: CACHED_ENTRIES,
    ttlMs: cacheTtlMs,
    load: async (userId) => {
      const user = await findUserById(db, userId);
      return user ? { role: user.role, isActive: user.isActive } : null;
    },
  });
  // Unknown keys are remembered apart, so a flood of made-up keys cannot evict real ones.
  const unknownKeys = ttlCache<string, true>({ max: 1_000, ttlMs: cacheTtlMs });
  const keys = localCache<ApiKey | null>({
    max: CACHED_ENTRIES,
    ttlMs: cacheTtlMs,
    load: async (hash) => {
      if (unknownKeys.has(hash)) return null;
      const record = (await findApiKeyByHash(db, hash)) ?? null;
      if (!record) unknownKeys.set(hash, true);
      return record;
    },
    keep: (record) => record !== null,
  });
  const sessions = localCache<SessionStatus>({
    max: CACHED_ENTRIES,
    ttlMs: cacheTtlMs,
    load: async (sessionId) => {
      const userId = await liveSessionOwner(db, sessionId);
      return userId === undefined ? 'ended' : { userId };
    },
  });
  const lastTouched = ttlCache<string, true>({ max: CACHED_ENTRIES, ttlMs: TOUCH_INTERVAL_MS });

  function apply(change: CredentialChange): void {
    if ('userId' in change) {
      accounts.delete(change.userId);
      sessions.deleteWhere((session) => session !== 'ended' && session.userId === change.userId);
    } else if ('apiKeyId' in change) {
      keys.deleteWhere((record) => record?.id === change.apiKeyId);
    } else {
      sessions.delete(change.sessionId);
    }
  }

  invalidations.subscribe({
    message(message) {
      const change = decodeChange(message);
      if (change) apply(change);
    },
    gap() {
      accounts.clear();
      keys.clear();
      sessions.clear();
      unknownKeys.clear();
    },
  });

  function touch(record: ApiKey, now: Date): void {
    if (lastTouched.has(record.id)) return;
    lastTouched.set(record.id, true);
    touchApiKey(db, record.id, now).catch((error: unknown) => {
      logger.warn({ err: error, apiKeyId: record.id }, 'could not record API key use');
    });
  }

  /** The credential's scopes, narrowed to what the account's role allows now. */
  function effectiveScopes(granted: readonly string[], role: Role): Set<Scope> {
    const allowed = new Set<string>(granted);
    return new Set(scopes.forRole(role).filter((scope) => allowed.has(scope)));
  }

  // A key's scopes for the account status they were narrowed by, worked out once while both
  // cached copies last: a new copy of either (reloaded, or changed) is worked out afresh.
  const keyScopes = new WeakMap<ApiKey, { account: AccountStatus; scopes: ReadonlySet<Scope> }>();
  function scopesOfKey(record: ApiKey, account: AccountStatus): ReadonlySet<Scope> {
    const known = keyScopes.get(record);
    if (known?.account === account) return known.scopes;
    const narrowed = effectiveScopes(record.scopes, account.role);
    keyScopes.set(record, { account, scopes: narrowed });
    return narrowed;
  }

  /**
   * A key's record and its account come from the caches when both are there (nearly every
   * request of a caller), and the answer with them, in this turn; otherwise once loaded.
   */
  function viaApiKey(key: string, now: Date): AuthResult | Promise<AuthResult> {
    return keys.use(keyHash(key), (record) => withAccount(record, now));
  }

  // A caller sends the same key with every request: its hash is worked out once while kept.
  // The SHA-256 took about 0.9 µs of a 60 µs item read in the server (decision 118); a
  // key's hash never changes, so nothing here goes stale, and what the hash finds is still
  // looked up (and invalidated) as before.
  const keyHashes = new LRUCache<string, string>({ max: CACHED_ENTRIES });
  function keyHash(key: string): string {
    let hash = keyHashes.get(key);
    if (hash === undefined) {
      hash = hashApiKey(key);
      keyHashes.set(key, hash);
    }
    return hash;
  }

  function withAccount(record: ApiKey | null, now: Date): AuthResult | Promise<AuthResult> {
    if (!record) return { ok: false, reason: 'invalid' };
    if (record.revokedAt) return { ok: false, reason: 'revoked' };
    if (record.expiresAt && record.expiresAt <= now) return { ok: false, reason: 'expired' };
    return accounts.use(record.userId, (account) => admitKey(record, account, now));
  }

  function admitKey(record: ApiKey, account: AccountStatus | null, now: Date): AuthResult {
    if (!account) return { ok: false, reason: 'invalid' };
    if (!account.isActive) return { ok: false, reason: 'inactive' };
    touch(record, now);
    return {
      ok: true,
      principal: {
        userId: record.userId,
        role: account.role,
        scopes: scopesOfKey(record, account),
        via: 'api_key',
        credentialId: record.id,
      },
    };
  }

  function viaAuthorization(authorization: string, now: Date): AuthResult | Promise<AuthResult> {
    const match = BEARER.exec(authorization);
    if (!match?.[1]) return { ok: false, reason: 'invalid' };
    // OpenAI's clients send their key as a bearer token: an API key is one too.
    if (match[1].startsWith(API_KEY_PREFIX)) return viaApiKey(match[1], now);
    return viaToken(match[1], now);
  }

  /**
   * A token's account and session come from the caches when both are there (nearly every
   * request of a caller), and the answer with them, in this turn, as a key's do; otherwise
   * once loaded.
   */
  function viaToken(token: string, now: Date): AuthResult | Promise<AuthResult> {
    const claims = tokens.verify(token, now);
    if (claims === 'expired' || claims === 'invalid') return { ok: false, reason: claims };
    const { userId, sessionId } = claims;
    if (sessionId === undefined) {
      return accounts.use(userId, (account) => admitToken(claims, account, undefined));
    }
    const session = sessions.peek(sessionId);
    if (session)
      return accounts.use(userId, (account) => admitToken(claims, account, session.value));
    // The session not looked up yet: it and the account are loaded side by side.
    return Promise.all([accounts.get(userId), sessions.get(sessionId)]).then(([account, status]) =>
      admitToken(claims, account, status),
    );
  }

  function admitToken(
    claims: AccessTokenClaims,
    account: AccountStatus | null,
    session: SessionStatus | undefined,
  ): AuthResult {
    if (!account) return { ok: false, reason: 'invalid' };
    if (!account.isActive) return { ok: false, reason: 'inactive' };
    if (session === 'ended') return { ok: false, reason: 'revoked' };
    return {
      ok: true,
      principal: {
        userId: claims.userId,
        role: account.role,
        scopes: effectiveScopes(claims.scopes, account.role),
        via: 'token',
        credentialId: claims.jti,
        ...(claims.sessionId === undefined ? {} : { sessionId: claims.sessionId }),
      },
    };
  }

  return {
    authenticate({ authorization, apiKey }) {
      const now = clock.now();
      if (apiKey !== undefined) return viaApiKey(apiKey, now);
      if (authorization !== undefined) return viaAuthorization(authorization, now);
      return { ok: false, reason: 'missing' };
    },
    async forget(change) {
      apply(change);
      await invalidations.publish(encodeChange(change));
    },
  };
}
