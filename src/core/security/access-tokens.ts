import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { uuidv7 } from '../ids.ts';
import type { Scope, ScopeCatalog } from './scopes.ts';

export interface AccessTokenClaims {
  userId: string;
  scopes: readonly Scope[];
  jti: string;
  expiresAt: Date;
  /** The login session (refresh-token family) it belongs to: logging out ends it at once. */
  sessionId?: string;
}

export interface AccessTokenCodec {
  /** How long an access token lives, in seconds. */
  ttlSeconds: number;
  issue(
    userId: string,
    scopes: readonly Scope[],
    now: Date,
    sessionId?: string,
  ): Promise<{ token: string; claims: AccessTokenClaims }>;
  /**
   * `expired` and `invalid` are told apart so the 401 can say which. Synchronous: a request
   * whose account and session are cached is answered in the turn it came in.
   */
  verify(token: string, now: Date): AccessTokenClaims | 'expired' | 'invalid';
}

/** One algorithm, pinned: a token whose header says anything else (`none` included) is refused. */
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

/** Tokens verified before, kept by their text (decision 116). */
const VERIFIED_TOKENS_KEPT = 10_000;

/** What a verification found, kept for the same token's next request. */
interface Verified {
  claims: AccessTokenClaims;
  /** Seconds since the epoch, as in the token. */
  iat: number;
  exp: number;
}

interface Payload {
  sub?: unknown;
  scope?: unknown;
  iat?: unknown;
  exp?: unknown;
  jti?: unknown;
  sid?: unknown;
}

/** The claims of a signed token whose times hold at `now`, or why not. */
function inTime(found: Verified, now: Date): AccessTokenClaims | 'expired' | 'invalid' {
  const nowSeconds = now.getTime() / 1000;
  if (found.exp <= nowSeconds) return 'expired';
  // Issued in the future (beyond a minute of clock skew): not one of ours.
  if (found.iat > nowSeconds + 60) return 'invalid';
  return found.claims;
}

/**
 * Short-lived JWT access tokens (RFC 7519, HS256) carrying `sub`, `iat`, `exp`, `jti` and
 * `scope`, and `sid` when it belongs to a login session. Written on node:crypto rather than a
 * JOSE library: with one algorithm pinned the format is a few lines, and verifying costs a
 * third of the time, on every request. The time is passed in, so tests move a clock instead
 * of waiting for expiry.
 *
 * A client sends the same token with every request until it expires, so a token that
 * verified is kept by its exact text (`verifiedTokensKept` of them, the least recently used
 * going first) and its next request skips the signature and the parse: in the production
 * server, an HMAC object, a decode and a parse were ~17 µs of CPU a request (decision 116).
 * Only the time is checked again, against the `now` given. Only a token this secret signed
 * gets in, and only the same text finds it; its claims are frozen, as every caller shares
 * them.
 */
export function accessTokens(
  secret: string,
  ttlSeconds: number,
  scopes: Pick<ScopeCatalog, 'has'>,
  verifiedTokensKept = VERIFIED_TOKENS_KEPT,
): AccessTokenCodec {
  const key: KeyObject = createSecretKey(Buffer.from(secret));
  const sign = (input: string) => createHmac('sha256', key).update(input).digest('base64url');
  const verified = new LRUCache<string, Verified>({ max: verifiedTokensKept });
  return {
    ttlSeconds,
    async issue(userId, scopes, now, sessionId) {
      const iat = Math.floor(now.getTime() / 1000);
      const exp = iat + ttlSeconds;
      const jti = uuidv7(now.getTime());
      const payload = Buffer.from(
        JSON.stringify({
          sub: userId,
          scope: scopes.join(' '),
          iat,
          exp,
          jti,
          ...(sessionId ? { sid: sessionId } : {}),
        }),
      ).toString('base64url');
      const token = `${HEADER}.${payload}.${sign(`${HEADER}.${payload}`)}`;
      const expiresAt = new Date(exp * 1000);
      return {
        token,
        claims: {
          userId,
          scopes: [...scopes],
          jti,
          expiresAt,
          ...(sessionId ? { sessionId } : {}),
        },
      };
    },
    verify(token, now) {
      const known = verified.get(token);
      if (known) return inTime(known, now);
      if (!JWT_SHAPE.test(token)) return 'invalid';
      const [header = '', payload = '', signature = ''] = token.split('.');
      // Any other header (another algorithm, `none`, extra fields) is not one we issued.
      if (header !== HEADER) return 'invalid';
      const expected = Buffer.from(sign(`${header}.${payload}`));
      const given = Buffer.from(signature);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
      let claims: Payload;
      try {
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Payload;
      } catch {
        return 'invalid';
      }
      const { sub, scope, iat, exp, jti, sid } = claims;
      if (typeof sub !== 'string' || typeof scope !== 'string' || typeof jti !== 'string')
        return 'invalid';
      if (sid !== undefined && typeof sid !== 'string') return 'invalid';
      if (typeof iat !== 'number' || typeof exp !== 'number') return 'invalid';
      const found: Verified = {
        iat,
        exp,
        claims: Object.freeze({
          userId: sub,
          // A scope the service no longer knows (a module removed since) grants nothing.
          scopes: Object.freeze(scope.split(' ').filter(scopes.has)),
          jti,
          expiresAt: new Date(exp * 1000),
          ...(sid === undefined ? {} : { sessionId: sid }),
        }),
      };
      verified.set(token, found);
      return inTime(found, now);
    },
  };
}
