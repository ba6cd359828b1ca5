/**
 * The authenticator answers a key or a token whose records it has cached in the same turn,
 * without a promise (what it worked out once for a key is worked out again when the account
 * changes: revocation.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { uuidv7 } from '../../../src/core/ids.ts';
import type { AuthResult } from '../../../src/core/security/principal.ts';
import { SCOPES } from '../../../src/modules.ts';
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

  test('a token whose account (and session) are cached is answered in the same turn', async () => {
    const { user, token } = await createTestUser(deps);
    const credentials = { authorization: `Bearer ${token}`, apiKey: undefined };
    const first = await deps.auth.authenticate(credentials);
    assert.ok(first.ok && first.principal.via === 'token');
    const again = deps.auth.authenticate(credentials);
    assert.ok(!(again instanceof Promise), 'answered without a promise');
    assert.ok(again.ok && again.principal.userId === user.id && again.principal.via === 'token');
    // A token of a login session that has ended: the session is looked up once, then its
    // status comes from the cache too.
    const { token: ofSession } = await deps.tokens.issue(
      user.id,
      SCOPES.forRole(user.role),
      deps.clock.now(),
      uuidv7(),
    );
    const sessionCredentials = { authorization: `Bearer ${ofSession}`, apiKey: undefined };
    const looked = deps.auth.authenticate(sessionCredentials);
    assert.ok(looked instanceof Promise, 'a session not cached is looked up');
    assert.deepEqual(await looked, { ok: false, reason: 'revoked' });
    const cached = deps.auth.authenticate(sessionCredentials);
    assert.ok(!(cached instanceof Promise), 'answered without a promise');
    assert.deepEqual(cached, { ok: false, reason: 'revoked' });
  });
});
