import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Clock } from '../../core/clock.ts';
import type { Database } from '../../core/db/database.ts';
import { uuidv7 } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import type { AccessTokenCodec } from '../../core/security/access-tokens.ts';
import { decoyHash, verifyPassword } from '../../core/security/passwords.ts';
import { isScope, type Scope, scopesForRole } from '../../core/security/scopes.ts';
import { findUserByEmail, findUserById, type User } from '../users/users.service.ts';
import type { LoginThrottle, ThrottleRule } from './login-throttle.ts';
import { refreshTokens } from './refresh-tokens.table.ts';

export interface AuthContext {
  db: Database;
  clock: Clock;
  tokens: AccessTokenCodec;
  throttle: LoginThrottle;
  refreshTtlSeconds: number;
  limits: { perAccount: number; perAddress: number };
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
  return createHash('sha256').update(token).digest('hex');
}

/** RFC 6749's error for a bad grant, as a problem document that also carries `error`. */
function invalidGrant(detail: string): ProblemError {
  return new ProblemError(400, {
    title: 'Invalid grant',
    detail,
    extensions: { error: 'invalid_grant', error_description: detail },
  });
}

/**
 * The scopes to grant: those asked for (all the role allows when none are), each of which
 * the role must allow. OAuth2 lets a server narrow a request, but a silent narrowing hides
 * mistakes, so asking for a scope the user cannot have is refused.
 */
function grantedScopes(requested: string | undefined, role: User['role']): Scope[] {
  const allowed = scopesForRole(role);
  const asked = (requested ?? '').split(' ').filter((scope) => scope.length > 0);
  if (asked.length === 0) return allowed;
  const refused = asked.filter((scope) => !isScope(scope) || !allowed.includes(scope));
  if (refused.length > 0) {
    throw new ProblemError(400, {
      title: 'Invalid scope',
      detail: `Scopes not available to this account: ${refused.join(' ')}`,
      extensions: {
        error: 'invalid_scope',
        error_description: `Scopes not available: ${refused.join(' ')}`,
      },
    });
  }
  return [...new Set(asked.filter(isScope))];
}

async function issueTokens(
  ctx: AuthContext,
  user: User,
  scopes: Scope[],
  familyId: string,
): Promise<TokenResponse> {
  const now = ctx.clock.now();
  const { token } = await ctx.tokens.issue(user.id, scopes, now);
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
    { key: `account:${email}`, limit: ctx.limits.perAccount },
    { key: `address:${input.clientAddress}`, limit: ctx.limits.perAddress },
  ];
  const wait = await ctx.throttle.blockedFor(rules);
  if (wait !== undefined) {
    throw new ProblemError(429, {
      detail: 'Too many failed logins; try again later',
      headers: { 'retry-after': String(wait) },
    });
  }
  const user = await findUserByEmail(ctx.db, email);
  const valid = await verifyPassword(input.password, user?.passwordHash ?? (await decoyHash()));
  if (!user || !valid || !user.isActive) {
    await ctx.throttle.recordFailure(rules);
    throw invalidGrant('Incorrect email or password');
  }
  await ctx.throttle.clear(`account:${email}`);
  return issueTokens(ctx, user, grantedScopes(input.scope, user.role), uuidv7());
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
    if (known?.usedAt) await revokeFamily(ctx.db, known.familyId, now);
    throw invalidGrant('The refresh token is not valid');
  }
  if (spent.expiresAt <= now) throw invalidGrant('The refresh token has expired');
  const user = await findUserById(ctx.db, spent.userId);
  if (!user?.isActive) throw invalidGrant('The account is not active');
  // A refresh may narrow the scope, never widen it beyond the original grant.
  const original = spent.scope.split(' ').filter(isScope);
  const scopes = input.scope === undefined ? original : grantedScopes(input.scope, user.role);
  if (scopes.some((scope) => !original.includes(scope)))
    throw invalidGrant('The scope exceeds the original grant');
  const allowed = scopesForRole(user.role);
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

/** Logs out the session the refresh token belongs to. Unknown tokens are ignored. */
export async function logout(db: Database, refreshToken: string, now: Date): Promise<void> {
  const [known] = await db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, hashToken(refreshToken)));
  if (known) await revokeFamily(db, known.familyId, now);
}

/** Ends every session of a user, e.g. after a password change or deactivation. */
export async function revokeAllSessions(db: Database, userId: string, now: Date): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
}

/** Deletes refresh tokens that can no longer be used, for the scheduled clean-up. */
export async function purgeRefreshTokens(db: Database, now: Date): Promise<number> {
  const deleted = await db
    .delete(refreshTokens)
    .where(or(lt(refreshTokens.expiresAt, now), lt(refreshTokens.revokedAt, now)))
    .returning({ id: refreshTokens.id });
  return deleted.length;
}
