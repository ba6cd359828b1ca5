/**
 * Revocation takes effect at once in the process that did it, though every credential was
 * verified and cached just before and the caches would trust it for a minute: a revoked
 * key, a deactivated or demoted account, a changed password (for the other sessions) and a
 * logout are refused with the very next request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import type { AuthResult } from '../../../src/core/security/principal.ts';
import { createTestApiKey, createTestUser, TEST_PASSWORD } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;
let app: ReturnType<typeof createApp>;

before(async () => {
  deps = await createTestDeps({ env: { API_KEY_CACHE_TTL_MS: '60000' } });
  app = createApp(deps);
});
after(() => deps.close());

const json = (method: string, headers: Record<string, string>, body: unknown) => ({
  method,
  headers: { ...headers, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Logs in through the token endpoint: a real session, whose access token names it. */
async function logIn(email: string, password = TEST_PASSWORD) {
  const res = await app.request('/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: email, password }).toString(),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  return { headers: { authorization: `Bearer ${body.access_token}` }, refresh: body.refresh_token };
}

const scopesOf = (result: AuthResult) => (result.ok ? [...result.principal.scopes].sort() : []);

async function me(headers: Record<string, string>): Promise<number> {
  return (await app.request('/v1/users/me', { headers })).status;
}

describe('revocation in the same process', () => {
  test('a revoked API key is refused with the next request', async () => {
    const owner = await createTestUser(deps);
    const key = await createTestApiKey(deps, owner.user, ['items:read']);
    assert.equal(await me(key.headers), 200);
    const revoked = await app.request(`/v1/api-keys/${key.id}`, {
      method: 'DELETE',
      headers: owner.headers,
    });
    assert.equal(revoked.status, 204);
    assert.equal(await me(key.headers), 401);
  });

  test('a deactivated account is refused at once, by token and by key', async () => {
    const admin = await createTestUser(deps, { role: 'admin' });
    const user = await createTestUser(deps);
    const session = await logIn(user.user.email);
    const key = await createTestApiKey(deps, user.user, ['items:read']);
    for (const headers of [session.headers, key.headers]) assert.equal(await me(headers), 200);
    const res = await app.request(
      `/v1/users/${user.user.id}`,
      json('PATCH', admin.headers, { isActive: false }),
    );
    assert.equal(res.status, 200);
    for (const headers of [session.headers, key.headers]) assert.equal(await me(headers), 401);
  });

  test('a demoted administrator loses the admin scope at once', async () => {
    const admin = await createTestUser(deps, { role: 'admin' });
    const other = await createTestUser(deps, { role: 'admin' });
    assert.equal((await app.request('/v1/users', { headers: other.headers })).status, 200);
    const res = await app.request(
      `/v1/users/${other.user.id}`,
      json('PATCH', admin.headers, { role: 'user' }),
    );
    assert.equal(res.status, 200);
    assert.equal((await app.request('/v1/users', { headers: other.headers })).status, 403);
  });

  test('a demoted administrator’s key is narrowed at once, though its scopes were worked out before', async () => {
    const admin = await createTestUser(deps, { role: 'admin' });
    const other = await createTestUser(deps, { role: 'admin' });
    const { key } = await createTestApiKey(deps, other.user, ['admin', 'items:read']);
    const credentials = { authorization: undefined, apiKey: key };
    await deps.auth.authenticate(credentials);
    assert.deepEqual(scopesOf(await deps.auth.authenticate(credentials)), ['admin', 'items:read']);
    const res = await app.request(
      `/v1/users/${other.user.id}`,
      json('PATCH', admin.headers, { role: 'user' }),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(scopesOf(await deps.auth.authenticate(credentials)), ['items:read']);
  });

  test('a password change ends the other sessions at once, and keeps the one that made it', async () => {
    const user = await createTestUser(deps);
    const here = await logIn(user.user.email);
    const elsewhere = await logIn(user.user.email);
    for (const session of [here, elsewhere]) assert.equal(await me(session.headers), 200);
    const changed = await app.request(
      '/v1/users/me',
      json('PATCH', here.headers, {
        password: 'another long password',
        currentPassword: TEST_PASSWORD,
      }),
    );
    assert.equal(changed.status, 200);
    assert.equal(await me(elsewhere.headers), 401);
    assert.equal(await me(here.headers), 200);
    const refreshed = await app.request('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: here.refresh }),
    });
    assert.equal(refreshed.status, 200, 'the session that changed it can still refresh');
  });

  test('logging out ends that session’s access token at once, and no other', async () => {
    const user = await createTestUser(deps);
    const leaving = await logIn(user.user.email);
    const staying = await logIn(user.user.email);
    for (const session of [leaving, staying]) assert.equal(await me(session.headers), 200);
    const out = await app.request(
      '/v1/auth/logout',
      json('POST', {}, { refresh_token: leaving.refresh }),
    );
    assert.equal(out.status, 204);
    const refused = await app.request('/v1/users/me', { headers: leaving.headers });
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/);
    assert.equal(await me(staying.headers), 200);
  });

  test('a replayed refresh token ends the access tokens of its session at once', async () => {
    const user = await createTestUser(deps);
    const session = await logIn(user.user.email);
    const refresh = (token: string) =>
      app.request('/v1/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }),
      });
    const rotated = await refresh(session.refresh);
    assert.equal(rotated.status, 200);
    const next = (await rotated.json()) as { access_token: string };
    const nextHeaders = { authorization: `Bearer ${next.access_token}` };
    assert.equal(await me(nextHeaders), 200);
    assert.equal((await refresh(session.refresh)).status, 400, 'the replay is refused');
    assert.equal(await me(nextHeaders), 401);
    assert.equal(await me(session.headers), 401);
  });
});
