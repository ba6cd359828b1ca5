import { randomBytes } from 'node:crypto';
import type { Scope } from '../../src/core/security/scopes.ts';
import { scopesForRole } from '../../src/core/security/scopes.ts';
import type { Deps } from '../../src/deps.ts';
import { createApiKey } from '../../src/modules/api-keys/api-keys.service.ts';
import { createUser, type User } from '../../src/modules/users/users.service.ts';

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
    options.scopes ?? scopesForRole(role),
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
    allowedScopes: new Set(scopesForRole(user.role)),
  });
  return { id: record.id, key, headers: { 'x-api-key': key } };
}
