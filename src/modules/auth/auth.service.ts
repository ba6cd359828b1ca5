import { hash, randomBytes } from 'node:crypto';
import { and, eq, isNull, lt, ne, or } from 'drizzle-orm';
import type { Clock } from '../../core/clock.ts';
import type { Database } from '../../core/db/database.ts';
import type { Deps } from '../../core/deps.ts';
import { DomainError, TooManyAttemptsError } from '../../core/domain-errors.ts';
import { uuidv7 } from '../../core/ids.ts';
import type { AccessTokenCodec } from '../../core/security/access-tokens.ts';
import type { LoginThrottle, ThrottleRule } from '../../core/security/login-throttle.ts';
import { decoyHash, verifyPassword } from '../../core/security/passwords.ts';
import type { Authenticator } from '../../core/security/principal.ts';
import type { Scope, ScopeCatalog } from '../../core/security/scopes.ts';
import { findUserByEmail, findUserById, type User } from '../users/users.service.ts';
import { refreshTokens } from './refresh-tokens.table.ts';

export interface AuthContext {
  db: Database;
  clock: Clock;
  tokens: AccessTokenCodec;
  scopes: ScopeCatalog;
  throttle: LoginThrottle;
  refreshTtlSeconds: number;
  limits: { perAccount: number; perAddress: number };
  /** Told when a session ends here, so no process keeps accepting its access tokens. */
  forget: Authenticator['forget'];
}

/** What the auth service needs, from the service's dependencies. */
export function authContext(deps: Deps): AuthContext {
  return {
    db: deps.db,
    clock: deps.clock,
    tokens: deps.tokens,
    scopes: deps.scopes,
    throttle: deps.loginThrottle,
    refreshTtlSeconds: deps.settings.REFRESH_TOKEN_TTL_SECONDS,
    limits: {
      perAccount: deps.settings.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      perAddress: deps.settings.LOGIN_MAX_FAILURES_PER_IP,
    },
    forget: (change) => deps.auth.forget(change),
  };
}

/**
 * A grant refused: wrong credentials or refresh token (`invalid_grant`), or scopes the
 * account cannot have (`invalid_scope`), in OAuth2's own words (RFC 6749 §5.2), which the
 * token endpoint answers with.
 */
export class GrantError extends DomainError {
  readonly code: 'invalid_grant' | 'invalid_scope';

  constructor(code: GrantError['code'], message: string) {
    super(message);
    this.name = 'GrantError';
    this.code = code;
  }
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

const REFRESH_PREFIX = 'hrt_';

function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

const invalidGrant = (message: string) => new GrantError('invalid_grant', message);

/**
 * The scopes to grant: those asked for (all the role allows when none are), each of which
 * the role must allow. OAuth2 lets a server narrow a request, but a silent narrowing hides
 * mistakes, so asking for a scope the user cannot have is refused.
 */
function grantedScopes(
  scopes: ScopeCatalog,
  requested: string | undefined,
  role: User['role'],
): Scope[] {
  const allowed = scopes.forRole(role);
  const asked = (requested ?? '').split(' ').filter((scope) => scope.length > 0);
  if (asked.length === 0) return allowed;
  const refused = asked.filter((scope) => !scopes.has(scope) || !allowed.includes(scope));
  if (refused.length > 0) {
    throw new GrantError(
      'invalid_scope',
      `Scopes not available to this account: ${refused.join(' ')}`,
    );
  }
  return [...new Set(asked.filter(scopes.has))];
}

async function issueTokens(
  ctx: AuthContext,
  user: User,
  scopes: Scope[],
  familyId: string,
): Promise<TokenResponse> {
  const now = ctx.clock.now();
  const { token } = await ctx.tokens.issue(user.id, scopes, now, familyId);
  const refreshToken = `${REFRESH_PREFIX}${randomBytes(32).toString('base64url')}`;
  await ctx.db.insert(refreshTokens).values({
    userId: user.id,
    familyId,
    tokenHash: hashToken(refreshToken),
    scope: scopes.join(' '),
    expiresAt: new Date(now.getTime() + ctx.refreshTtlSeconds * 1000),
  });
  return {
    access_token: token,
    token_type: 'bearer',
    expires_in: ctx.tokens.ttlSeconds,
    refresh_token: refreshToken,
    scope: scopes.join(' '),
  };
}

/**
 * The OAuth2 password grant. An unknown email and a wrong password get the same answer and
 * take the same time (a decoy hash is verified); failures are counted per account and per
 * client address, and past the limit the answer is 429 before any hashing.
 */
export async function loginWithPassword(
  ctx: AuthContext,
  input: { email: string; password: string; scope: string | undefined; clientAddress: string },
): Promise<TokenResponse> {
  const email = input.email.trim().toLowerCase();
  const rules: ThrottleRule[] = [
    { policy: 'login-account', key: `account:${email}`, limit: ctx.limits.perAccount },
    {
      policy: 'login-address',
      key: `address:${input.clientAddress}`,
      limit: ctx.limits.perAddress,
    },
  ];
  const blocked = await ctx.throttle.blockedFor(rules);
  if (blocked) {
    throw new TooManyAttemptsError(
      'Too many failed logins; try again later',
      blocked.policy,
      blocked.seconds,
    );
  }
  const user = await findUserByEmail(ctx.db, email);
  const valid = await verifyPassword(input.password, user?.passwordHash ?? (await decoyHash()));
  if (!user || !valid || !user.isActive) {
    await ctx.throttle.recordFailure(rules);
    throw invalidGrant('Incorrect email or password');
  }
  await ctx.throttle.clear(`account:${email}`);
  return issueTokens(ctx, user, grantedScopes(ctx.scopes, input.scope, user.role), uuidv7());
}

/**
 * The refresh grant, with rotation: the presented token is spent and a new one issued in
 * the same family. A spent token presented again means it was copied, so the whole family
 * is revoked and its holder must log in again.
 */
export async function refreshSession(
  ctx: AuthContext,
  input: { refreshToken: string; scope: string | undefined },
): Promise<TokenResponse> {
  const now = ctx.clock.now();
  const tokenHash = hashToken(input.refreshToken);
  const [spent] = await ctx.db
    .update(refreshTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(refreshTokens.tokenHash, tokenHash),
        isNull(refreshTokens.usedAt),
        isNull(refreshTokens.revokedAt),
      ),
    )
    .returning();
  if (!spent) {
    const [known] = await ctx.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash));
    if (known?.usedAt) {
      await revokeFamily(ctx.db, known.familyId, now);
      await ctx.forget({ sessionId: known.familyId });
    }
    throw invalidGrant('The refresh token is not valid');
  }
  if (spent.expiresAt <= now) throw invalidGrant('The refresh token has expired');
  const user = await findUserById(ctx.db, spent.userId);
  if (!user?.isActive) throw invalidGrant('The account is not active');
  // A refresh may narrow the scope, never widen it beyond the original grant.
  const original = spent.scope.split(' ').filter(ctx.scopes.has);
  const scopes =
    input.scope === undefined ? original : grantedScopes(ctx.scopes, input.scope, user.role);
  if (scopes.some((scope) => !original.includes(scope)))
    throw invalidGrant('The scope exceeds the original grant');
  const allowed = ctx.scopes.forRole(user.role);
  return issueTokens(
    ctx,
    user,
    scopes.filter((scope) => allowed.includes(scope)),
    spent.familyId,
  );
}

async function revokeFamily(db: Database, familyId: string, now: Date): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

/**
 * Logs out the session the refresh token belongs to: its refresh tokens, and its access
 * tokens too, at once. Unknown tokens are ignored.
 */
export async function logout(ctx: AuthContext, refreshToken: string): Promise<void> {
  const [known] = await ctx.db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, hashToken(refreshToken)));
  if (!known) return;
  await revokeFamily(ctx.db, known.familyId, ctx.clock.now());
  await ctx.forget({ sessionId: known.familyId });
}

/**
 * Ends every session of a user (after a password change, or deactivation), except `keep`:
 * the session that changed the password stays logged in. The caller tells the
 * authenticator (`forget({ userId })`), so their access tokens stop working at once.
 */
export async function revokeAllSessions(
  db: Database,
  userId: string,
  now: Date,
  keep?: string,
): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(
      and(
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        keep === undefined ? undefined : ne(refreshTokens.familyId, keep),
      ),
    );
}

/**
 * The user of a login session that may still be used, or undefined once it has ended. A
 * session lives while some refresh token of its family is not revoked: logging out, a
 * replayed refresh token and the end of all sessions revoke them all (and the scheduled
 * clean-up deletes them).
 */
export async function liveSessionOwner(
  db: Database,
  sessionId: string,
): Promise<string | undefined> {
  const [live] = await db
    .select({ userId: refreshTokens.userId })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.familyId, sessionId), isNull(refreshTokens.revokedAt)))
    .limit(1);
  return live?.userId;
}

/** Deletes refresh tokens that can no longer be used, for the scheduled clean-up. */
export async function purgeRefreshTokens(db: Database, now: Date): Promise<number> {
  const deleted = await db
    .delete(refreshTokens)
    .where(or(lt(refreshTokens.expiresAt, now), lt(refreshTokens.revokedAt, now)))
    .returning({ id: refreshTokens.id });
  return deleted.length;
}
