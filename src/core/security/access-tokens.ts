import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { uuidv7 } from '../ids.ts';
import type { Scope, ScopeCatalog } from './scopes.ts';

export interface AccessTokenClaims {
  userId: string;
  scopes: Scope[];
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

interface Payload {
  sub?: unknown;
  scope?: unknown;
  iat?: unknown;
  exp?: unknown;
  jti?: unknown;
  sid?: unknown;
}

/**
 * Short-lived JWT access tokens (RFC 7519, HS256) carrying `sub`, `iat`, `exp`, `jti` and
 * `scope`, and `sid` when it belongs to a login session. Written on node:crypto rather than a JOSE library: with one algorithm pinned the
 * format is a few lines, and verifying costs a third of the time, on every request. The
 * time is passed in, so tests move a clock instead of waiting for expiry.
 */
export function accessTokens(
  secret: string,
  ttlSeconds: number,
  scopes: Pick<ScopeCatalog, 'has'>,
): AccessTokenCodec {
  const key: KeyObject = createSecretKey(Buffer.from(secret));
  const sign = (input: string) => createHmac('sha256', key).update(input).digest('base64url');
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
      const nowSeconds = now.getTime() / 1000;
      if (exp <= nowSeconds) return 'expired';
      // Issued in the future (beyond a minute of clock skew): not one of ours.
      if (iat > nowSeconds + 60) return 'invalid';
      return {
        userId: sub,
        // A scope the service no longer knows (a module removed since) grants nothing.
        scopes: scope.split(' ').filter(scopes.has),
        jti,
        expiresAt: new Date(exp * 1000),
        ...(sid === undefined ? {} : { sessionId: sid }),
      };
    },
  };
}
