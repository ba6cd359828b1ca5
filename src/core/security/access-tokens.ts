import { errors, jwtVerify, SignJWT } from 'jose';
import { uuidv7 } from '../ids.ts';
import type { Scope } from './scopes.ts';
import { isScope } from './scopes.ts';

/** One algorithm, pinned: a token claiming any other (`none` included) is refused. */
const ALGORITHM = 'HS256';

export interface AccessTokenClaims {
  userId: string;
  scopes: Scope[];
  jti: string;
  expiresAt: Date;
}

export interface AccessTokenCodec {
  /** How long an access token lives, in seconds. */
  ttlSeconds: number;
  issue(
    userId: string,
    scopes: readonly Scope[],
    now: Date,
  ): Promise<{ token: string; claims: AccessTokenClaims }>;
  /** `expired` and `invalid` are told apart so the 401 can say which. */
  verify(token: string, now: Date): Promise<AccessTokenClaims | 'expired' | 'invalid'>;
}

/**
 * Short-lived JWT access tokens carrying `sub`, `iat`, `exp`, `jti` and `scope`. The time
 * is passed in, so tests move a clock instead of waiting for expiry.
 */
export function accessTokens(secret: string, ttlSeconds: number): AccessTokenCodec {
  const key = new TextEncoder().encode(secret);
  return {
    ttlSeconds,
    async issue(userId, scopes, now) {
      const issuedAt = Math.floor(now.getTime() / 1000);
      const jti = uuidv7(now.getTime());
      const token = await new SignJWT({ scope: scopes.join(' ') })
        .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds)
        .setJti(jti)
        .sign(key);
      return {
        token,
        claims: {
          userId,
          scopes: [...scopes],
          jti,
          expiresAt: new Date((issuedAt + ttlSeconds) * 1000),
        },
      };
    },
    async verify(token, now) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [ALGORITHM],
          currentDate: now,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        });
        if (typeof payload.scope !== 'string' || !payload.sub || !payload.jti || !payload.exp)
          return 'invalid';
        return {
          userId: payload.sub,
          scopes: payload.scope.split(' ').filter(isScope),
          jti: payload.jti,
          expiresAt: new Date(payload.exp * 1000),
        };
      } catch (error) {
        return error instanceof errors.JWTExpired ? 'expired' : 'invalid';
      }
    },
  };
}
