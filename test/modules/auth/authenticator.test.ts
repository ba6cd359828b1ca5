/**
 * The authenticator answers a key it has cached in the same turn, without a promise (what it
 * worked out once for a key is worked out again when the account changes: revocation.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AuthResult } from '../../../src/core/security/principal.ts';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;

before(async () => {
  deps = await createTestDeps({ env: { API_KEY_CACHE_TTL_MS: '60000' } });
});
after(() => deps.close());

const scopesOf = (result: AuthResult) => (result.ok ? [...result.principal.scopes].sort() : []);

describe('the authenticator', () => {
  test('a key whose record and account are cached is answered in the same turn', async () => {
    const owner = await createTestUser(deps);
    const { key } = await createTestApiKey(deps, owner.user, ['items:read']);
    for (const credentials of [
      { authorization: undefined, apiKey: key },
      { authorization: `Bearer ${key}`, apiKey: undefined },
    ]) {
      const first = await deps.auth.authenticate(credentials);
      assert.deepEqual(scopesOf(first), ['items:read']);
      const again = deps.auth.authenticate(credentials);
      assert.ok(!(again instanceof Promise), 'answered without a promise');
      assert.deepEqual(scopesOf(again), ['items:read']);
      assert.ok(again.ok && again.principal.userId === owner.user.id);
    }
    const unknown = deps.auth.authenticate({ authorization: undefined, apiKey: `${key}x` });
    assert.ok(unknown instanceof Promise, 'a key not cached is looked up');
    assert.deepEqual(await unknown, { ok: false, reason: 'invalid' });
  });
});
