/**
 * Revocation seen by a process that did not do it: two real API processes (`node
 * src/server.ts`) share one database and Redis. A key revoked through one must stop working
 * on the other within `API_KEY_CACHE_TTL_MS`, and a refresh token replayed on the other after
 * being rotated on the first must be refused and end its whole session.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiPair, type ApiProcess, startApiPair } from '../../support/processes.ts';

const CACHE_TTL_MS = 2_000;
/** How long past the cache TTL a revocation may take to show: polling, a request's time. */
const REVOCATION_MARGIN_MS = 1_000;
const POLL_INTERVAL_MS = 100;
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

  test('an API key revoked through A is refused by B within API_KEY_CACHE_TTL_MS', async (t) => {
    const account = await registerAndLogIn(a);
    const bearer = { authorization: `Bearer ${account.accessToken}` };
    const created = await call(a, '/v1/api-keys', {
      method: 'POST',
      headers: bearer,
      json: { name: 'cross-process', scopes: ['items:read'] },
    });
    assert.equal(created.status, 201, where(a, created));
    const keyHeaders = { 'x-api-key': created.body.key as string };

    // B verifies the key, and caches it as valid.
    const used = await call(b, '/v1/users/me', { headers: keyHeaders });
    assert.equal(used.status, 200, where(b, used));
    assert.equal(used.body.id, account.userId);

    const revoked = await call(a, `/v1/api-keys/${created.body.id}`, {
      method: 'DELETE',
      headers: bearer,
    });
    assert.equal(revoked.status, 204, where(a, revoked));
    const revokedAt = performance.now();

    // A never had the key in use, so it has nothing cached: it refuses the key at once.
    const onA = await call(a, '/v1/users/me', { headers: keyHeaders });
    assert.equal(onA.status, 401, where(a, onA));

    let acceptedAfterRevocation = 0;
    let refused: Answer | undefined;
    const deadline = revokedAt + CACHE_TTL_MS + REVOCATION_MARGIN_MS;
    while (performance.now() <= deadline) {
      const answer = await call(b, '/v1/users/me', { headers: keyHeaders });
      if (answer.status === 401) {
        refused = answer;
        break;
      }
      assert.equal(answer.status, 200, where(b, answer));
      acceptedAfterRevocation += 1;
      await sleep(POLL_INTERVAL_MS);
    }
    const delayMs = Math.round(performance.now() - revokedAt);
    t.diagnostic(
      `B refused the revoked key ${delayMs} ms after the revocation (API_KEY_CACHE_TTL_MS=${CACHE_TTL_MS}; ${acceptedAfterRevocation} requests accepted meanwhile)`,
    );
    assert.ok(
      refused,
      `B still accepted the revoked key ${CACHE_TTL_MS + REVOCATION_MARGIN_MS} ms after it was revoked`,
    );
    assert.ok(delayMs <= CACHE_TTL_MS + REVOCATION_MARGIN_MS, `${delayMs} ms`);
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
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
