import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { manualClock } from '../../../src/core/clock.ts';
import { SCOPES } from '../../../src/modules.ts';
import { TEST_PASSWORD } from '../../support/auth.ts';
import { captureLogs, createTestDeps, type TestDeps } from '../../support/deps.ts';

const clock = manualClock(new Date('2030-01-01T00:00:00Z'));
const logs = await captureLogs('trace');
let deps: TestDeps;
let app: ReturnType<typeof createApp>;
const issuedSecrets: string[] = [];

before(async () => {
  deps = await createTestDeps({
    clock,
    logger: logs.logger,
    env: {
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      LOGIN_MAX_FAILURES_PER_IP: '6',
      LOG_LEVEL: 'trace',
    },
  });
  app = createApp(deps);
});
after(() => deps.close());

let addressCounter = 0;
/** Each call gets its own client address unless told, so per-address limits stay apart. */
function fromAddress(address = `10.0.0.${++addressCounter}`) {
  return { incoming: { socket: { remoteAddress: address } } };
}

async function register(email: string, password = TEST_PASSWORD) {
  return app.request('/v1/auth/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, name: 'Ada' }),
  });
}

async function token(form: Record<string, string>, address?: string) {
  const res = await app.request(
    '/v1/auth/token',
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    },
    fromAddress(address),
  );
  const body = (await res.json()) as Record<string, unknown>;
  for (const key of ['access_token', 'refresh_token'])
    if (typeof body[key] === 'string') issuedSecrets.push(body[key]);
  return { res, body };
}

const me = (accessToken: string) =>
  app.request('/v1/users/me', { headers: { authorization: `Bearer ${accessToken}` } });

describe('register', () => {
  test('creates an account: 201, and no hash in the answer', async () => {
    const res = await register('Reg.One@Example.com');
    assert.equal(res.status, 201);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.email, 'reg.one@example.com');
    assert.equal(body.role, 'user');
    assert.deepEqual(Object.keys(body).sort(), [
      'createdAt',
      'email',
      'id',
      'isActive',
      'name',
      'role',
      'updatedAt',
    ]);
    assert.doesNotMatch(JSON.stringify(body), /argon2|passwordHash/);
  });

  test('a taken email is 409, whatever its case', async () => {
    assert.equal((await register('taken@example.com')).status, 201);
    const res = await register('TAKEN@example.COM');
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
  });

  test('a short password and a bad email are 422 together', async () => {
    const res = await app.request('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'nope', password: 'short', name: '' }),
    });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { errors: { path: string }[] };
    assert.deepEqual(body.errors.map((error) => error.path).sort(), ['email', 'name', 'password']);
  });
});

describe('password grant', () => {
  before(async () => {
    await register('login@example.com');
  });

  test('returns an OAuth2 token response that works on /v1/users/me', async () => {
    const { res, body } = await token({
      grant_type: 'password',
      username: 'login@example.com',
      password: TEST_PASSWORD,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(body.token_type, 'bearer');
    assert.equal(body.expires_in, 900);
    assert.equal(body.scope, SCOPES.forRole('user').join(' '));
    assert.match(String(body.refresh_token), /^hrt_/);
    const [header, payload] = String(body.access_token).split('.');
    assert.deepEqual(JSON.parse(Buffer.from(header ?? '', 'base64url').toString()), {
      alg: 'HS256',
      typ: 'JWT',
    });
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    for (const claim of ['sub', 'exp', 'iat', 'jti', 'scope']) assert.ok(claim in claims, claim);
    const profile = await me(String(body.access_token));
    assert.equal(profile.status, 200);
    assert.equal(((await profile.json()) as { email: string }).email, 'login@example.com');
  });

  test('a narrower scope can be asked for; a scope the role lacks is refused', async () => {
    const narrow = await token({
      grant_type: 'password',
      username: 'login@example.com',
      password: TEST_PASSWORD,
      scope: 'items:read',
    });
    assert.equal(narrow.body.scope, 'items:read');
    const wide = await token({
      grant_type: 'password',
      username: 'login@example.com',
      password: TEST_PASSWORD,
      scope: 'admin',
    });
    assert.equal(wide.res.status, 400);
    assert.equal(wide.body.error, 'invalid_scope');
  });

  test('an unknown email and a wrong password give the same answer', async () => {
    const wrong = await token({
      grant_type: 'password',
      username: 'login@example.com',
      password: 'wrong password!',
    });
    const unknown = await token({
      grant_type: 'password',
      username: 'nobody@example.com',
      password: 'wrong password!',
    });
    assert.equal(wrong.res.status, 400);
    assert.equal(unknown.res.status, 400);
    const strip = (body: Record<string, unknown>) => ({ ...body, requestId: undefined });
    assert.deepEqual(strip(wrong.body), strip(unknown.body));
    assert.equal(wrong.body.error, 'invalid_grant');
  });

  test('missing fields for the grant are 400 invalid_request (RFC 6749 5.2), naming them', async () => {
    const { res, body } = await token({ grant_type: 'password', username: 'login@example.com' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(body.error, 'invalid_request');
    assert.match(String(body.error_description), /password/);
    assert.deepEqual(
      (body.errors as { path: string }[]).map((error) => error.path),
      ['password'],
    );
  });

  test('no grant_type is 400 invalid_request; an unknown one is unsupported_grant_type', async () => {
    const missing = await token({ username: 'login@example.com', password: TEST_PASSWORD });
    assert.equal(missing.res.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
    assert.match(String(missing.body.error_description), /grant_type/);
    const unknown = await token({ grant_type: 'client_credentials' });
    assert.equal(unknown.res.status, 400);
    assert.equal(unknown.body.error, 'unsupported_grant_type');
  });

  test('text no field may hold is invalid_request too', async () => {
    const { res, body } = await token({
      grant_type: 'password',
      username: 'a\u0000b@example.com',
      password: TEST_PASSWORD,
    });
    assert.equal(res.status, 400);
    assert.equal(body.error, 'invalid_request');
    assert.deepEqual(
      (body.errors as { path: string; code: string }[]).map((e) => `${e.path}:${e.code}`),
      ['username:nul_character'],
    );
  });

  test('JSON is not accepted by the form endpoint: 415 saying what is', async () => {
    const res = await app.request('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password' }),
    });
    assert.equal(res.status, 415);
    const body = (await res.json()) as { detail: string };
    assert.match(body.detail, /application\/x-www-form-urlencoded/);
    assert.equal(res.headers.get('accept-post'), 'application/x-www-form-urlencoded');
  });
});

describe('refresh rotation', () => {
  let first: { access: string; refresh: string };

  before(async () => {
    await register('rotate@example.com');
    const { body } = await token({
      grant_type: 'password',
      username: 'rotate@example.com',
      password: TEST_PASSWORD,
    });
    first = { access: String(body.access_token), refresh: String(body.refresh_token) };
  });

  test('a refresh spends the token and issues the next; reusing a spent one revokes the family', async () => {
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.refresh });
    assert.equal(second.res.status, 200);
    const secondRefresh = String(second.body.refresh_token);
    assert.notEqual(secondRefresh, first.refresh);

    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.refresh });
    assert.equal(replay.res.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');

    const afterTheft = await token({ grant_type: 'refresh_token', refresh_token: secondRefresh });
    assert.equal(afterTheft.res.status, 400, 'the whole family is revoked');
  });

  test('logout revokes the session', async () => {
    const login = await token({
      grant_type: 'password',
      username: 'rotate@example.com',
      password: TEST_PASSWORD,
    });
    const refresh = String(login.body.refresh_token);
    const res = await app.request('/v1/auth/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refresh }),
    });
    assert.equal(res.status, 204);
    const reuse = await token({ grant_type: 'refresh_token', refresh_token: refresh });
    assert.equal(reuse.res.status, 400);
  });

  test('an access token expires with the clock', async () => {
    const login = await token({
      grant_type: 'password',
      username: 'rotate@example.com',
      password: TEST_PASSWORD,
    });
    const access = String(login.body.access_token);
    assert.equal((await me(access)).status, 200);
    clock.advance(901_000);
    const res = await me(access);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
    assert.match(((await res.json()) as { detail: string }).detail, /expired/);
  });
});

describe('failed-login limits', () => {
  before(async () => {
    await register('limited@example.com');
  });

  test('too many failures for one account: 429 with Retry-After, even with the right password', async () => {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const { res } = await token({
        grant_type: 'password',
        username: 'limited@example.com',
        password: 'wrong password!',
      });
      assert.equal(res.status, 400);
    }
    const { res, body } = await token({
      grant_type: 'password',
      username: 'limited@example.com',
      password: TEST_PASSWORD,
    });
    assert.equal(res.status, 429);
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(retryAfter > 0);
    assert.equal(body.status, 429);
    // The refusal says which limit, like any other limited answer (3 failures per 900 s here).
    assert.equal(res.headers.get('ratelimit-policy'), '"login-account";q=3;w=900');
    assert.equal(res.headers.get('ratelimit'), `"login-account";r=0;t=${retryAfter}`);
  });

  test('too many failures from one address: 429 for any account from there', async () => {
    for (let attempt = 0; attempt < 6; attempt += 1) {
      await token(
        {
          grant_type: 'password',
          username: `spray-${attempt}@example.com`,
          password: 'wrong password!',
        },
        '192.0.2.7',
      );
    }
    await register('innocent@example.com');
    const blocked = await token(
      { grant_type: 'password', username: 'innocent@example.com', password: TEST_PASSWORD },
      '192.0.2.7',
    );
    assert.equal(blocked.res.status, 429);
    assert.match(
      blocked.res.headers.get('ratelimit-policy') ?? '',
      /^"login-address";q=\d+;w=\d+$/,
    );
    assert.match(blocked.res.headers.get('ratelimit') ?? '', /^"login-address";r=0;t=\d+$/);
    const elsewhere = await token(
      { grant_type: 'password', username: 'innocent@example.com', password: TEST_PASSWORD },
      '192.0.2.8',
    );
    assert.equal(elsewhere.res.status, 200);
  });
});

describe('secrets', () => {
  test('no password or issued token appears in any log line', () => {
    const text = logs.text();
    assert.ok(text.length > 0, 'the logs were captured');
    assert.doesNotMatch(text, new RegExp(TEST_PASSWORD));
    assert.ok(issuedSecrets.length > 5);
    for (const secret of issuedSecrets)
      assert.ok(!text.includes(secret), 'an issued token was logged');
  });
});
