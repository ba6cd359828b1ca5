import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { manualClock } from '../../../src/core/clock.ts';
import { createTestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

const clock = manualClock(new Date('2030-01-01T00:00:00Z'));
let deps: TestDeps;
let app: ReturnType<typeof createApp>;

before(async () => {
  deps = await createTestDeps({ clock, env: { API_KEY_CACHE_TTL_MS: '50' } });
  app = createApp(deps);
});
after(() => deps.close());

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

async function createKey(headers: Record<string, string>, body: unknown) {
  return app.request('/v1/api-keys', {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('API keys', () => {
  test('the key is shown once, with a recognisable prefix; listing shows no secret', async () => {
    const ada = await createTestUser(deps);
    const res = await createKey(ada.headers, { name: 'ci', scopes: ['items:read'] });
    assert.equal(res.status, 201);
    const created = (await res.json()) as { key: string; prefix: string; id: string };
    assert.match(created.key, /^hsk_[A-Za-z0-9_-]{43}$/);
    assert.ok(created.key.startsWith(created.prefix));
    const list = await app.request('/v1/api-keys', { headers: ada.headers });
    const text = await list.text();
    assert.ok(!text.includes(created.key));
    assert.doesNotMatch(text, /keyHash|key_hash/);
    assert.equal((JSON.parse(text) as { data: unknown[] }).data.length, 1);
  });

  test('a key authenticates with its own scopes and records its last use', async () => {
    const ada = await createTestUser(deps);
    const { key, id } = (await (
      await createKey(ada.headers, { name: 'read', scopes: ['items:read'] })
    ).json()) as {
      key: string;
      id: string;
    };
    const me = await app.request('/v1/users/me', { headers: { 'x-api-key': key } });
    assert.equal(me.status, 200);
    await settle();
    const list = (await (await app.request('/v1/api-keys', { headers: ada.headers })).json()) as {
      data: { id: string; lastUsedAt: string | null }[];
    };
    assert.ok(list.data.find((entry) => entry.id === id)?.lastUsedAt);
  });

  test('a key works as a bearer token too, as OpenAI’s clients send it; a bad one is 401', async () => {
    const ada = await createTestUser(deps);
    const { key } = (await (
      await createKey(ada.headers, { name: 'bearer', scopes: ['items:read'] })
    ).json()) as { key: string };
    const me = await app.request('/v1/users/me', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { id: string }).id, ada.user.id);
    const items = await app.request('/v1/items', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(items.status, 200);
    const write = await app.request('/v1/items', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', price: '1.00' }),
    });
    assert.equal(write.status, 403, 'the key’s own scopes still apply');
    const forged = await app.request('/v1/users/me', {
      headers: { authorization: `Bearer ${key.slice(0, -2)}xx` },
    });
    assert.equal(forged.status, 401);
  });

  test('scopes must be a subset of the creator’s', async () => {
    const ada = await createTestUser(deps);
    const res = await createKey(ada.headers, { name: 'too much', scopes: ['admin'] });
    assert.equal(res.status, 403);
    const narrow = await createTestUser(deps, { scopes: ['items:read'] });
    assert.equal(
      (await createKey(narrow.headers, { name: 'x', scopes: ['items:write'] })).status,
      403,
    );
  });

  test('revoked, expired and unknown keys are 401', async () => {
    const ada = await createTestUser(deps);
    const revokable = (await (
      await createKey(ada.headers, { name: 'r', scopes: ['items:read'] })
    ).json()) as {
      key: string;
      id: string;
    };
    assert.equal(
      (await app.request('/v1/users/me', { headers: { 'x-api-key': revokable.key } })).status,
      200,
    );
    const revoke = await app.request(`/v1/api-keys/${revokable.id}`, {
      method: 'DELETE',
      headers: ada.headers,
    });
    assert.equal(revoke.status, 204);
    await settle();
    assert.equal(
      (await app.request('/v1/users/me', { headers: { 'x-api-key': revokable.key } })).status,
      401,
    );
    assert.equal(
      (
        await app.request(`/v1/api-keys/${revokable.id}`, {
          method: 'DELETE',
          headers: ada.headers,
        })
      ).status,
      404,
    );

    const expiring = (await (
      await createKey(ada.headers, {
        name: 'e',
        scopes: ['items:read'],
        expiresAt: '2030-01-02T00:00:00Z',
      })
    ).json()) as { key: string };
    assert.equal(
      (await app.request('/v1/users/me', { headers: { 'x-api-key': expiring.key } })).status,
      200,
    );
    clock.advance(2 * 24 * 3600 * 1000);
    assert.equal(
      (await app.request('/v1/users/me', { headers: { 'x-api-key': expiring.key } })).status,
      401,
    );

    const unknown = await app.request('/v1/users/me', { headers: { 'x-api-key': 'hsk_unknown' } });
    assert.equal(unknown.status, 401);
    assert.ok(unknown.headers.get('www-authenticate'));
  });

  test('an expiry in the past is 422', async () => {
    const ada = await createTestUser(deps);
    const res = await createKey(ada.headers, {
      name: 'old',
      scopes: ['items:read'],
      expiresAt: '2000-01-01T00:00:00Z',
    });
    assert.equal(res.status, 422);
  });

  test('a scope list is at most as long as the document says, each scope kept once', async () => {
    const document = (await (await app.request('/openapi.json')).json()) as {
      components: {
        schemas: {
          Scope: { enum: string[] };
          ApiKeyCreate: { properties: { scopes: { maxItems: number } } };
        };
      };
    };
    const names = document.components.schemas.Scope.enum;
    const maxItems = document.components.schemas.ApiKeyCreate.properties.scopes.maxItems;
    assert.equal(maxItems, names.length, 'one of each scope is the longest list');
    const ada = await createTestUser(deps);

    const repeated = await createKey(ada.headers, {
      name: 'repeats',
      scopes: Array.from({ length: maxItems }, () => 'items:read'),
    });
    assert.equal(repeated.status, 201);
    assert.deepEqual(((await repeated.json()) as { scopes: string[] }).scopes, ['items:read']);

    const tooLong = await createKey(ada.headers, {
      name: 'too long',
      scopes: Array.from({ length: maxItems + 1 }, () => 'items:read'),
    });
    assert.equal(tooLong.status, 422);
    const problem = (await tooLong.json()) as { errors: { path: string }[] };
    assert.deepEqual(
      problem.errors.map((error) => error.path),
      ['scopes'],
    );

    const unknown = await createKey(ada.headers, { name: 'x', scopes: ['items:read', 'nope:x'] });
    assert.equal(unknown.status, 422);
    const unknownProblem = (await unknown.json()) as { errors: { path: string }[] };
    assert.deepEqual(
      unknownProblem.errors.map((error) => error.path),
      ['scopes.1'],
    );
  });

  test('another user’s key cannot be revoked: 404', async () => {
    const ada = await createTestUser(deps);
    const bob = await createTestUser(deps);
    const { id } = (await (
      await createKey(ada.headers, { name: 'a', scopes: ['items:read'] })
    ).json()) as { id: string };
    assert.equal(
      (await app.request(`/v1/api-keys/${id}`, { method: 'DELETE', headers: bob.headers })).status,
      404,
    );
  });
});
