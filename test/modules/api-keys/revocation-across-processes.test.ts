/**
 * Revocation seen by a process that did not do it: two real API processes (`node
 * src/server.ts`) share one database and Redis. A key revoked through one must be refused
 * by both within a second, though each would trust its cached copy for a minute
 * (`API_KEY_CACHE_TTL_MS`): only the invalidation through Redis can explain it. The same
 * for a logout, a password change (the account's other sessions) and a deactivated user. A
 * refresh token replayed on the other after being rotated on the first must be refused and
 * end its whole session.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { type ApiPair, type ApiProcess, startApiPair } from '../../support/processes.ts';

/** Far longer than the test: a refusal within it comes from the invalidation, not expiry. */
const CACHE_TTL_MS = 60_000;
/** The promise: every process refuses a revoked key within this long. */
const REVOCATION_BOUND_MS = 1_000;
const POLL_INTERVAL_MS = 20;
const ROUNDS = 20;
const PASSWORD = 'correct horse battery staple';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

async function call(
  api: ApiProcess,
  path: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown; form?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form as Record<string, string>).toString();
  }
  const response = await fetch(`${api.base}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // Not JSON: the assertions show `text`.
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

const where = (api: ApiProcess, answer: Answer) => `${api.name}: ${answer.status} ${answer.text}`;

describe('revocation across two API processes', () => {
  let pair: ApiPair;
  let a: ApiProcess;
  let b: ApiProcess;

  before(async () => {
    pair = await startApiPair('cross', {
      // The service's own default: it migrates its (already migrated) database on start.
      MIGRATE_ON_START: undefined,
      API_KEY_CACHE_TTL_MS: String(CACHE_TTL_MS),
    });
    ({ a, b } = pair);
  });

  after(() => pair?.close());

  /** Registers an account through `api` and logs it in there. */
  async function registerAndLogIn(api: ApiProcess) {
    const email = `cross-${randomBytes(6).toString('hex')}@example.com`;
    const registered = await call(api, '/v1/auth/register', {
      method: 'POST',
      json: { email, password: PASSWORD, name: 'Cross Process' },
    });
    assert.equal(registered.status, 201, where(api, registered));
    const tokens = await logIn(api, email);
    return { userId: registered.body.id as string, email, ...tokens };
  }

  async function logIn(api: ApiProcess, email: string) {
    const login = await call(api, '/v1/auth/token', {
      method: 'POST',
      form: { grant_type: 'password', username: email, password: PASSWORD },
    });
    assert.equal(login.status, 200, where(api, login));
    return {
      accessToken: login.body.access_token as string,
      refreshToken: login.body.refresh_token as string,
    };
  }

  async function refresh(api: ApiProcess, refreshToken: string): Promise<Answer> {
    return call(api, '/v1/auth/token', {
      method: 'POST',
      form: { grant_type: 'refresh_token', refresh_token: refreshToken },
    });
  }

  function assertInvalidGrant(api: ApiProcess, answer: Answer): void {
    assert.equal(answer.status, 400, where(api, answer));
    assert.equal(answer.headers.get('content-type'), 'application/problem+json');
    assert.equal(answer.body.error, 'invalid_grant', where(api, answer));
  }

  /** Polls `api` with `headers` until it answers 401; the time that took, in ms. */
  async function refusedWithin(
    api: ApiProcess,
    headers: Record<string, string>,
    since: number,
  ): Promise<number> {
    for (;;) {
      const answer = await call(api, '/v1/users/me', { headers });
      const elapsed = performance.now() - since;
      if (answer.status === 401) {
        assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
        return elapsed;
      }
      assert.equal(answer.status, 200, where(api, answer));
      assert.ok(
        elapsed <= REVOCATION_BOUND_MS,
        `${api.name} still accepted a revoked credential ${Math.round(elapsed)} ms after the revocation answered`,
      );
      await sleep(POLL_INTERVAL_MS);
    }
  }

  test(`an API key revoked through A is refused by A at once and by B within 1 s, ${ROUNDS} times in a row`, async (t) => {
    const account = await registerAndLogIn(a);
    const bearer = { authorization: `Bearer ${account.accessToken}` };
    const delays: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const created = await call(a, '/v1/api-keys', {
        method: 'POST',
        headers: bearer,
        json: { name: `cross-process ${round}`, scopes: ['items:read'] },
      });
      assert.equal(created.status, 201, where(a, created));
      const keyHeaders = { 'x-api-key': created.body.key as string };
      // Both processes verify the key, and cache it as valid for a minute.
      for (const api of [a, b]) {
        const used = await call(api, '/v1/users/me', { headers: keyHeaders });
        assert.equal(used.status, 200, where(api, used));
      }
      const revoked = await call(a, `/v1/api-keys/${created.body.id}`, {
        method: 'DELETE',
        headers: bearer,
      });
      assert.equal(revoked.status, 204, where(a, revoked));
      const revokedAt = performance.now();
      // The process that revoked it refuses it with its very next request.
      const onA = await call(a, '/v1/users/me', { headers: keyHeaders });
      assert.equal(onA.status, 401, where(a, onA));
      delays.push(await refusedWithin(b, keyHeaders, revokedAt));
    }
    const sorted = [...delays].sort((x, y) => x - y);
    t.diagnostic(
      `B refused the revoked key after ${Math.round(sorted[0] ?? 0)}–${Math.round(sorted.at(-1) ?? 0)} ms (median ${Math.round(sorted[ROUNDS >> 1] ?? 0)}), ${ROUNDS} of ${ROUNDS} within ${REVOCATION_BOUND_MS} ms; API_KEY_CACHE_TTL_MS=${CACHE_TTL_MS}`,
    );
  });

  test('logging out through A ends the access token on both processes within 1 s', async () => {
    const account = await registerAndLogIn(a);
    const bearer = { authorization: `Bearer ${account.accessToken}` };
    for (const api of [a, b]) {
      const before = await call(api, '/v1/users/me', { headers: bearer });
      assert.equal(before.status, 200, where(api, before));
    }
    const out = await call(a, '/v1/auth/logout', {
      method: 'POST',
      json: { refresh_token: account.refreshToken },
    });
    assert.equal(out.status, 204, where(a, out));
    const loggedOutAt = performance.now();
    const onA = await call(a, '/v1/users/me', { headers: bearer });
    assert.equal(onA.status, 401, where(a, onA));
    await refusedWithin(b, bearer, loggedOutAt);
  });

  test('a password changed through A ends the other sessions on both processes within 1 s', async () => {
    const account = await registerAndLogIn(a);
    const other = await logIn(b, account.email);
    const otherBearer = { authorization: `Bearer ${other.accessToken}` };
    for (const api of [a, b]) {
      const before = await call(api, '/v1/users/me', { headers: otherBearer });
      assert.equal(before.status, 200, where(api, before));
    }
    const changed = await call(a, '/v1/users/me', {
      method: 'PATCH',
      headers: { authorization: `Bearer ${account.accessToken}` },
      json: { currentPassword: PASSWORD, password: 'another long password' },
    });
    assert.equal(changed.status, 200, where(a, changed));
    const changedAt = performance.now();
    const onA = await call(a, '/v1/users/me', { headers: otherBearer });
    assert.equal(onA.status, 401, where(a, onA));
    await refusedWithin(b, otherBearer, changedAt);
    // The session that made the change goes on, on either process.
    for (const api of [a, b]) {
      const own = await call(api, '/v1/users/me', {
        headers: { authorization: `Bearer ${account.accessToken}` },
      });
      assert.equal(own.status, 200, where(api, own));
    }
  });

  test('a user deactivated through A is refused by both processes within 1 s', async () => {
    const admin = await registerAndLogIn(a);
    // The first administrator is made outside the API (npm run create-superuser does this).
    const sql = postgres(pair.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      await sql`update users set role = 'admin' where id = ${admin.userId}`;
    } finally {
      await sql.end();
    }
    const adminTokens = await logIn(a, admin.email);
    const user = await registerAndLogIn(b);
    const userBearer = { authorization: `Bearer ${user.accessToken}` };
    for (const api of [a, b]) {
      const before = await call(api, '/v1/users/me', { headers: userBearer });
      assert.equal(before.status, 200, where(api, before));
    }
    const deactivated = await call(a, `/v1/users/${user.userId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${adminTokens.accessToken}` },
      json: { isActive: false },
    });
    assert.equal(deactivated.status, 200, where(a, deactivated));
    const deactivatedAt = performance.now();
    const onA = await call(a, '/v1/users/me', { headers: userBearer });
    assert.equal(onA.status, 401, where(a, onA));
    await refusedWithin(b, userBearer, deactivatedAt);
  });

  test('a refresh token replayed on B after rotation on A is refused, and ends its session', async () => {
    const account = await registerAndLogIn(a);
    const rotated = await refresh(a, account.refreshToken);
    assert.equal(rotated.status, 200, where(a, rotated));
    const newest = rotated.body.refresh_token as string;
    assert.ok(newest && newest !== account.refreshToken, 'refreshing issues a new token');

    // The spent token, replayed on the other process: it is the database that knows.
    assertInvalidGrant(b, await refresh(b, account.refreshToken));

    // The replay revoked the whole family: the newest token is refused too, on either process.
    assertInvalidGrant(a, await refresh(a, newest));
    assertInvalidGrant(b, await refresh(b, newest));

    // Another session of the same account is untouched.
    const other = await logIn(b, account.email);
    const fresh = await refresh(a, other.refreshToken);
    assert.equal(fresh.status, 200, where(a, fresh));
  });
});
