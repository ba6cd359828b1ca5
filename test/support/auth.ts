import { randomBytes } from 'node:crypto';
import type { Deps } from '../../src/core/deps.ts';
import type { Scope } from '../../src/core/security/scopes.ts';
import { createApiKey } from '../../src/modules/api-keys/api-keys.service.ts';
import { createUser, type User } from '../../src/modules/users/users.service.ts';
import { SCOPES } from '../../src/modules.ts';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestUser {
  user: User;
  /** A valid access token with every scope of the user's role. */
  token: string;
  /** `Authorization: Bearer …` for `token`. */
  headers: { authorization: string };
}

/** Creates a user with a unique email and a fresh access token. */
export async function createTestUser(
  deps: Deps,
  options: { role?: 'user' | 'admin'; scopes?: Scope[] } = {},
): Promise<TestUser> {
  const role = options.role ?? 'user';
  const user = await createUser(deps.db, {
    email: `user-${randomBytes(6).toString('hex')}@example.com`,
    password: TEST_PASSWORD,
    name: 'Test User',
    role,
  });
  const { token } = await deps.tokens.issue(
    user.id,
    options.scopes ?? SCOPES.forRole(role),
    deps.clock.now(),
  );
  return { user, token, headers: { authorization: `Bearer ${token}` } };
}

/** Creates an API key for `user` with `scopes`. */
export async function createTestApiKey(
  deps: Deps,
  user: User,
  scopes: Scope[],
  expiresAt?: Date,
): Promise<{ id: string; key: string; headers: { 'x-api-key': string } }> {
  const { record, key } = await createApiKey(deps.db, {
    userId: user.id,
    name: 'test key',
    scopes,
    expiresAt,
    allowedScopes: new Set(SCOPES.forRole(user.role)),
    known: SCOPES,
    // Made as if just before it expires, so a test can hold a key that has expired already.
    now: expiresAt ? new Date(expiresAt.getTime() - 1) : deps.clock.now(),
  });
  return { id: record.id, key, headers: { 'x-api-key': key } };
}
