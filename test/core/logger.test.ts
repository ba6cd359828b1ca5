/**
 * Secrets never reach the logs: passwords, access and refresh tokens, API keys, cookies and
 * credential headers are planted through every route that handles them, and through a
 * handler that logs them and throws an error carrying them; then the captured log text is
 * searched for every one of them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../src/app.ts';
import { REDACTED_PATHS } from '../../src/core/logger.ts';
import { defineRoute, jsonResponse } from '../../src/core/route.ts';
import { createRouter } from '../../src/core/router.ts';
import { captureLogs, createTestDeps, type TestDeps } from '../support/deps.ts';

/** A distinctive value per secret, so a hit in the logs names what leaked. */
const plant = (what: string) => `PLANTED-${what}-${randomBytes(9).toString('hex')}`;

const PASSWORD = plant('password');
const NEW_PASSWORD = plant('new-password');
const WRONG_PASSWORD = plant('wrong-password');
const BEARER = plant('bearer');
const COOKIE = plant('cookie');
const API_KEY = plant('api-key');
const ERROR_PASSWORD = plant('error-password');
const ERROR_TOKEN = plant('error-token');
const ERROR_CAUSE_SECRET = plant('error-cause-secret');
const LOGGED_AUTHORIZATION = plant('logged-authorization');
const LOGGED_COOKIE = plant('logged-cookie');
const LOGGED_API_KEY = plant('logged-api-key');
const LOGGED_PASSWORD = plant('logged-password');
const LOGGED_TOKEN = plant('logged-token');
const LOGGED_BODY_PASSWORD = plant('logged-body-password');
const LOGGED_REQ_AUTHORIZATION = plant('logged-req-authorization');

const leak = defineRoute({
  method: 'post',
  path: '/probe/leak',
  operationId: 'probeLeak',
  summary: 'Logs secrets, then fails',
  tags: ['probe'],
  responses: { 200: jsonResponse(z.object({}), 'Never') },
});

const logs = await captureLogs('trace');
let deps: TestDeps;
let app: ReturnType<typeof createApp>;
/** Every secret the service handed out during the test (tokens, keys): none may be logged. */
const issued: { what: string; value: string }[] = [];

before(async () => {
  deps = await createTestDeps({ logger: logs.logger, env: { LOG_LEVEL: 'trace' } });
  app = createApp(deps);
  app.route(
    '/',
    createRouter().openapi(leak, (c) => {
      const logger = c.var.logger;
      // The mistakes redaction is there for: credential headers and secrets passed whole.
      logger.info({ headers: { authorization: `Bearer ${LOGGED_AUTHORIZATION}` } }, 'headers');
      logger.warn(
        { headers: { cookie: `session=${LOGGED_COOKIE}`, 'x-api-key': LOGGED_API_KEY } },
        'more headers',
      );
      logger.info({ password: LOGGED_PASSWORD, token: LOGGED_TOKEN }, 'fields');
      logger.debug({ body: { password: LOGGED_BODY_PASSWORD } }, 'a body');
      logger.error(
        { req: { headers: { authorization: `Bearer ${LOGGED_REQ_AUTHORIZATION}` } } },
        'a request',
      );
      // An error object carrying secrets, as a driver or SDK error sometimes does.
      throw Object.assign(new Error('the upstream refused the credentials'), {
        password: ERROR_PASSWORD,
        token: ERROR_TOKEN,
        cause: Object.assign(new Error('inner'), { secret: ERROR_CAUSE_SECRET }),
      });
    }),
  );
});
after(() => deps.close());

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

const from = { incoming: { socket: { remoteAddress: '10.77.0.1' } } };

/** `POST /v1/auth/token` with `fields` as its form. */
const tokenRequest = (fields: Record<string, string>) =>
  app.request('/v1/auth/token', form(fields), from);

type TokenPair = { access_token: string; refresh_token: string };

/** The tokens of a token answer, noted as issued (`<kind> access token`, `<kind> refresh token`). */
async function noteTokens(res: Response, kind: string): Promise<TokenPair> {
  const tokens = (await res.json()) as TokenPair;
  issued.push(
    { what: `${kind}access token`, value: tokens.access_token },
    { what: `${kind}refresh token`, value: tokens.refresh_token },
  );
  return tokens;
}

describe('secrets in logs', () => {
  test('never appear, whatever the route or the mistake', async () => {
    const email = `logged-${randomBytes(6).toString('hex')}@example.com`;

    const registered = await app.request(
      '/v1/auth/register',
      json({ email, password: PASSWORD, name: 'Logged' }),
      from,
    );
    assert.equal(registered.status, 201, await registered.clone().text());

    const logIn = (password: string) =>
      tokenRequest({ grant_type: 'password', username: email, password });
    const refresh = (token: string) =>
      tokenRequest({ grant_type: 'refresh_token', refresh_token: token });

    const failed = await logIn(WRONG_PASSWORD);
    assert.equal(failed.status, 400);

    const login = await logIn(PASSWORD);
    assert.equal(login.status, 200, await login.clone().text());
    const tokens = await noteTokens(login, '');

    const refreshed = await refresh(tokens.refresh_token);
    assert.equal(refreshed.status, 200);
    const next = await noteTokens(refreshed, 'refreshed ');
    // Replaying the spent refresh token: refused, and its session revoked.
    const replayed = await refresh(tokens.refresh_token);
    assert.equal(replayed.status, 400);

    const relogin = await logIn(PASSWORD);
    assert.equal(relogin.status, 200);
    const session = await noteTokens(relogin, 'second ');
    const bearer = { authorization: `Bearer ${session.access_token}` };

    const created = await app.request(
      '/v1/api-keys',
      json({ name: 'logged key', scopes: ['items:read'] }, bearer),
    );
    assert.equal(created.status, 201, await created.clone().text());
    const key = ((await created.json()) as { key: string }).key;
    issued.push({ what: 'API key', value: key });
    assert.equal(
      (await app.request('/v1/users/me', { headers: { 'x-api-key': key } })).status,
      200,
    );
    assert.equal((await app.request('/v1/items', { headers: { 'x-api-key': key } })).status, 200);

    const changed = await app.request('/v1/users/me', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...bearer },
      body: JSON.stringify({ password: NEW_PASSWORD, currentPassword: PASSWORD }),
    });
    assert.equal(changed.status, 200, await changed.clone().text());
    const wrongCurrent = await app.request('/v1/users/me', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...bearer },
      body: JSON.stringify({ password: PASSWORD, currentPassword: WRONG_PASSWORD }),
    });
    assert.ok(wrongCurrent.status >= 400, `a wrong current password is refused`);

    const logout = await app.request(
      '/v1/auth/logout',
      json({ refresh_token: next.refresh_token }),
    );
    assert.equal(logout.status, 204);

    // Planted credentials, on routes that check them and routes that do not.
    const planted = {
      authorization: `Bearer ${BEARER}`,
      cookie: `session=${COOKIE}; other=1`,
      'x-api-key': API_KEY,
    };
    for (const path of ['/v1/users/me', '/v1/items', '/livez', '/readyz', '/metrics', '/nope']) {
      await app.request(path, { headers: { authorization: planted.authorization } });
      await app.request(path, { headers: { cookie: planted.cookie } });
      await app.request(path, { headers: { 'x-api-key': planted['x-api-key'] } });
      await app.request(path, { headers: planted });
    }
    // A malformed body beside the planted headers: the 4xx paths log too.
    await app.request('/v1/auth/register', json('not an object', planted), from);
    await app.request('/v1/auth/token', form({ grant_type: 'password' }), from);

    const failure = await app.request('/probe/leak', json({}, planted));
    assert.equal(failure.status, 500);
    await failure.text();

    await deps.background.drain(5_000);
    logs.logger.flush();
    const text = logs.text();
    const records = logs.records();

    // The logs did record what happened, or finding nothing would prove nothing.
    assert.ok(
      records.some((record) => record.msg === 'request' && record.route === '/v1/auth/token'),
      'access lines were written',
    );
    const unhandled = records.find((record) => record.msg === 'unhandled error');
    assert.ok(unhandled, 'the 500 was logged');
    assert.match(JSON.stringify(unhandled), /the upstream refused the credentials/);
    for (const message of ['headers', 'more headers', 'fields', 'a body', 'a request']) {
      assert.ok(
        records.some((record) => record.msg === message),
        `the probe's "${message}" line`,
      );
    }

    const secrets = [
      { what: 'password', value: PASSWORD },
      { what: 'new password', value: NEW_PASSWORD },
      { what: 'wrong password', value: WRONG_PASSWORD },
      { what: 'planted bearer token', value: BEARER },
      { what: 'planted cookie', value: COOKIE },
      { what: 'planted API key', value: API_KEY },
      { what: 'error.password', value: ERROR_PASSWORD },
      { what: 'error.token', value: ERROR_TOKEN },
      { what: 'error.cause.secret', value: ERROR_CAUSE_SECRET },
      { what: 'logged headers.authorization', value: LOGGED_AUTHORIZATION },
      { what: 'logged headers.cookie', value: LOGGED_COOKIE },
      { what: 'logged headers["x-api-key"]', value: LOGGED_API_KEY },
      { what: 'logged password', value: LOGGED_PASSWORD },
      { what: 'logged token', value: LOGGED_TOKEN },
      { what: 'logged body.password', value: LOGGED_BODY_PASSWORD },
      { what: 'logged req.headers.authorization', value: LOGGED_REQ_AUTHORIZATION },
      ...issued,
    ];
    const leaked = secrets
      .filter((secret) => text.includes(secret.value))
      .map((secret) => {
        const line = text.split('\n').find((candidate) => candidate.includes(secret.value));
        return `${secret.what}, in: ${line?.slice(0, 400)}`;
      });
    assert.deepEqual(leaked, [], 'no secret reaches the logs');

    // Redaction, not silence: where a secret field was logged it shows as [redacted].
    const line = (msg: string) => records.find((record) => record.msg === msg) ?? {};
    assert.deepEqual(line('headers').headers, { authorization: '[redacted]' });
    assert.deepEqual(line('more headers').headers, {
      cookie: '[redacted]',
      'x-api-key': '[redacted]',
    });
    assert.equal(line('fields').password, '[redacted]');
    assert.equal(line('fields').token, '[redacted]');
    assert.deepEqual(line('a body').body, { password: '[redacted]' });
    assert.deepEqual(line('a request').req, { headers: { authorization: '[redacted]' } });
    assert.match(text, /\[redacted\]/);
  });

  test('the redacted paths cover every credential header and password field', () => {
    for (const path of [
      'password',
      'token',
      'authorization',
      'cookie',
      'headers.authorization',
      'headers.cookie',
      'headers["x-api-key"]',
      'body.password',
    ]) {
      assert.ok(REDACTED_PATHS.includes(path), path);
    }
  });
});
