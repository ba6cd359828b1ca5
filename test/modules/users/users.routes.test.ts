import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { createTestUser, TEST_PASSWORD, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let admin: TestUser;

before(async () => {
  deps = await createTestDeps({ env: { API_KEY_CACHE_TTL_MS: '50' } });
  app = createApp(deps);
  admin = await createTestUser(deps, { role: 'admin' });
});
after(() => deps.close());

function patch(path: string, headers: Record<string, string>, body: unknown) {
  return app.request(path, {
    method: 'PATCH',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function login(email: string, password = TEST_PASSWORD) {
  return app.request('/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: email, password }).toString(),
  });
}

describe('your account', () => {
  test('GET /v1/users/me returns the public fields only', async () => {
    const ada = await createTestUser(deps);
    const res = await app.request('/v1/users/me', { headers: ada.headers });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.id, ada.user.id);
    assert.equal(body.passwordHash, undefined);
  });

  test('PATCH changes the name; changing the password needs the current one', async () => {
    const ada = await createTestUser(deps);
    const renamed = await patch('/v1/users/me', ada.headers, { name: 'Ada King' });
    assert.equal(renamed.status, 200);
    assert.equal(((await renamed.json()) as { name: string }).name, 'Ada King');

    const missing = await patch('/v1/users/me', ada.headers, { password: 'a new long password' });
    assert.equal(missing.status, 422);
    const wrong = await patch('/v1/users/me', ada.headers, {
      password: 'a new long password',
      currentPassword: 'nope nope',
    });
    assert.equal(wrong.status, 422);
    assert.equal(
      (await login(ada.user.email, 'a new long password')).status,
      400,
      'unchanged so far',
    );

    const changed = await patch('/v1/users/me', ada.headers, {
      password: 'a new long password',
      currentPassword: TEST_PASSWORD,
    });
    assert.equal(changed.status, 200);
    assert.equal((await login(ada.user.email, 'a new long password')).status, 200);
    assert.equal((await login(ada.user.email)).status, 400);
  });

  test('changing to a taken email is 409', async () => {
    const ada = await createTestUser(deps);
    const bob = await createTestUser(deps);
    const res = await patch('/v1/users/me', ada.headers, { email: bob.user.email.toUpperCase() });
    assert.equal(res.status, 409);
  });
});

describe('administration', () => {
  test('lists users page by page with an opaque cursor, each once', async () => {
    for (let i = 0; i < 5; i += 1) await createTestUser(deps);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const res = await app.request(`/v1/users${query}`, { headers: admin.headers });
      assert.equal(res.status, 200);
      const page = (await res.json()) as { data: { id: string }[]; nextCursor: string | null };
      assert.ok(page.data.length <= 2);
      seen.push(...page.data.map((user) => user.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    assert.ok(seen.length >= 6);
    assert.deepEqual([...seen].sort(), seen, 'oldest first');
  });

  test('a tampered cursor is 422', async () => {
    const res = await app.request('/v1/users?cursor=eyJpZCI6IngifQ.AAAA', {
      headers: admin.headers,
    });
    assert.equal(res.status, 422);
  });

  test('a non-admin gets 403', async () => {
    const ada = await createTestUser(deps);
    assert.equal((await app.request('/v1/users', { headers: ada.headers })).status, 403);
  });

  test('deactivating a user stops their token within the cache time, and promotes by role', async () => {
    const ada = await createTestUser(deps);
    assert.equal((await app.request('/v1/users/me', { headers: ada.headers })).status, 200);
    const off = await patch(`/v1/users/${ada.user.id}`, admin.headers, { isActive: false });
    assert.equal(off.status, 200);
    assert.equal(((await off.json()) as { isActive: boolean }).isActive, false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await app.request('/v1/users/me', { headers: ada.headers });
    assert.equal(refused.status, 401);
    assert.equal((await login(ada.user.email)).status, 400);
  });

  test('an unknown id is 404, a malformed one 422', async () => {
    assert.equal(
      (
        await app.request('/v1/users/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e', {
          headers: admin.headers,
        })
      ).status,
      404,
    );
    assert.equal((await app.request('/v1/users/42', { headers: admin.headers })).status, 422);
  });
});
