/**
 * `sendJson`, FastAPI's `response_model`: fields a response schema does not declare never
 * leave. Outside production the request fails loudly (500, logged); in production they are
 * silently dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../src/app.ts';
import { sendJson } from '../../src/core/response.ts';
import { defineRoute, jsonResponse } from '../../src/core/route.ts';
import { createRouter } from '../../src/core/router.ts';
import { type CapturedLogs, captureLogs, createTestDeps, type TestDeps } from '../support/deps.ts';

const Tag = z.object({ label: z.string() });
const Account = z.object({
  id: z.string(),
  email: z.string(),
  profile: z.object({ bio: z.string(), links: z.array(z.string()) }),
  tags: z.array(Tag),
});
const AccountList = z.object({ data: z.array(Account), total: z.number() });

/** A database row, say: what the schema declares, and secrets it does not. */
function accountRow(which: 'top' | 'nested' | 'array' | 'all' | 'none') {
  const row = {
    id: 'acc-1',
    email: 'ada@example.com',
    profile: { bio: 'Mathematician', links: ['https://example.com'] },
    tags: [{ label: 'admin' }, { label: 'early' }],
  };
  if (which === 'top' || which === 'all') Object.assign(row, { passwordHash: 'SECRET-HASH' });
  if (which === 'nested' || which === 'all') {
    Object.assign(row.profile, { internalNote: 'SECRET-NOTE' });
  }
  if (which === 'array' || which === 'all') {
    Object.assign(row.tags[1] ?? {}, { grantedBy: 'SECRET-GRANTOR' });
  }
  return row;
}

const LEAKS = ['top', 'nested', 'array', 'all'] as const;
const LEAK_LABELS: Record<(typeof LEAKS)[number] | 'none', string> = {
  top: 'an undeclared top-level field',
  nested: 'an undeclared field in a nested object',
  array: 'an undeclared field in an array element',
  all: 'undeclared fields at every depth',
  none: 'no undeclared field',
};
const LEAKED_PATHS: Record<(typeof LEAKS)[number], string[]> = {
  top: ['passwordHash'],
  nested: ['profile.internalNote'],
  array: ['tags[1].grantedBy'],
  all: ['passwordHash', 'profile.internalNote', 'tags[1].grantedBy'],
};
const DECLARED = accountRow('none');

const accountRoute = defineRoute({
  method: 'get',
  path: '/probe/account/{leak}',
  operationId: 'probeAccount',
  summary: 'An account, leaking what the path names',
  tags: ['probe'],
  request: { params: z.object({ leak: z.enum(['top', 'nested', 'array', 'all', 'none']) }) },
  responses: { 200: jsonResponse(Account, 'The account') },
});

const accountsRoute = defineRoute({
  method: 'get',
  path: '/probe/accounts',
  operationId: 'probeAccounts',
  summary: 'Accounts in a list, each leaking',
  tags: ['probe'],
  responses: { 200: jsonResponse(AccountList, 'The accounts') },
});

/** Values whose extra field strict mode may overlook: it must still never be sent. */
const oddRoute = defineRoute({
  method: 'get',
  path: '/probe/odd/{kind}',
  operationId: 'probeOdd',
  summary: 'An account in an unusual object',
  tags: ['probe'],
  request: { params: z.object({ kind: z.enum(['prototype-name', 'null-prototype']) }) },
  responses: { 200: jsonResponse(Account, 'The account') },
});

function oddValue(kind: 'prototype-name' | 'null-prototype') {
  // A column named like an Object.prototype member, e.g. `valueOf` or `constructor`.
  if (kind === 'prototype-name') return { ...accountRow('none'), valueOf: 'SECRET-VALUE-OF' };
  // Some drivers build rows with no prototype.
  const row = Object.assign(Object.create(null) as Record<string, unknown>, accountRow('none'), {
    passwordHash: 'SECRET-HASH',
  });
  return row as ReturnType<typeof accountRow>;
}

function probeRouter() {
  return createRouter()
    .openapi(accountRoute, (c) => sendJson(c, Account, accountRow(c.req.valid('param').leak), 200))
    .openapi(oddRoute, (c) => sendJson(c, Account, oddValue(c.req.valid('param').kind), 200))
    .openapi(accountsRoute, (c) => {
      const value = {
        data: [accountRow('none'), accountRow('all')],
        total: 2,
        cacheKey: 'SECRET-KEY',
      };
      return sendJson(c, AccountList, value, 200);
    });
}

async function appWith(env: Record<string, string>, logs: CapturedLogs) {
  const deps = await createTestDeps({ env, logger: logs.logger });
  const app = createApp(deps);
  // Mounted after createApp: the app's middleware and error handling still apply.
  app.route('/', probeRouter());
  return { deps, app };
}

/** The field paths a `ResponseLeakError` message lists, sorted. */
function leakedFields(message: string | undefined): string[] {
  const prefix = 'Response carries undeclared fields: ';
  if (message === undefined || !message.startsWith(prefix)) assert.fail(`not a leak: ${message}`);
  return message.slice(prefix.length).split(', ').sort();
}

function assertNoSecret(text: string) {
  assert.doesNotMatch(text, /SECRET|passwordHash|internalNote|grantedBy|cacheKey/);
}

describe('outside production: an undeclared field fails the request', () => {
  let deps: TestDeps;
  let app: ReturnType<typeof createApp>;
  let logs: CapturedLogs;

  before(async () => {
    logs = await captureLogs();
    ({ deps, app } = await appWith({}, logs));
    assert.equal(deps.settings.NODE_ENV, 'test');
  });
  after(() => deps.close());

  test('a declared-only value is sent as is', async () => {
    const res = await app.request('/probe/account/none');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), DECLARED);
  });

  for (const leak of LEAKS) {
    test(`${LEAK_LABELS[leak]}: a 500 problem carrying nothing of the value, logged`, async () => {
      const requestId = `leak-${leak}`;
      const res = await app.request(`/probe/account/${leak}`, {
        headers: { 'x-request-id': requestId },
      });
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const text = await res.text();
      assertNoSecret(text);
      assert.doesNotMatch(text, /ada@example\.com|Mathematician/);
      assert.deepEqual(JSON.parse(text), {
        type: 'about:blank',
        title: 'Internal Server Error',
        status: 500,
        requestId,
      });

      const logged = logs
        .records()
        .filter((record) => record.requestId === requestId && record.msg === 'unhandled error');
      assert.equal(logged.length, 1, 'one error line for the request');
      const err = logged[0]?.err as { type?: string; message?: string } | undefined;
      assert.equal(err?.type, 'ResponseLeakError');
      assert.deepEqual(leakedFields(err?.message), [...LEAKED_PATHS[leak]].sort());
      // The log names the fields, never their values.
      assert.doesNotMatch(JSON.stringify(logged[0]), /SECRET/);
    });
  }

  for (const kind of ['prototype-name', 'null-prototype'] as const) {
    test(`an undeclared field in a ${kind} object is never sent`, async () => {
      const res = await app.request(`/probe/odd/${kind}`);
      assertNoSecret(await res.text());
    });

    test(`an undeclared field in a ${kind} object fails the request`, async () => {
      const res = await app.request(`/probe/odd/${kind}`);
      assert.equal(res.status, 500);
    });
  }

  test('a leak in an element of a listed object fails too', async () => {
    const res = await app.request('/probe/accounts', { headers: { 'x-request-id': 'leak-list' } });
    assert.equal(res.status, 500);
    assertNoSecret(await res.text());
    const [line] = logs
      .records()
      .filter((record) => record.requestId === 'leak-list' && record.msg === 'unhandled error');
    assert.deepEqual(leakedFields((line?.err as { message?: string } | undefined)?.message), [
      'cacheKey',
      'data[1].passwordHash',
      'data[1].profile.internalNote',
      'data[1].tags[1].grantedBy',
    ]);
    assert.doesNotMatch(JSON.stringify(line), /SECRET/);
  });
});

describe('in production: undeclared fields are dropped, silently', () => {
  let deps: TestDeps;
  let app: ReturnType<typeof createApp>;
  let logs: CapturedLogs;

  before(async () => {
    logs = await captureLogs();
    // createTestDeps sets DATABASE_URL and REDIS_URL, which production requires.
    ({ deps, app } = await appWith({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) }, logs));
    assert.equal(deps.settings.NODE_ENV, 'production');
  });
  after(() => deps.close());

  for (const leak of [...LEAKS, 'none'] as const) {
    test(`${LEAK_LABELS[leak]}: a 200 with only the declared fields`, async () => {
      const requestId = `prod-${leak}`;
      const res = await app.request(`/probe/account/${leak}`, {
        headers: { 'x-request-id': requestId },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json');
      const text = await res.text();
      assertNoSecret(text);
      assert.deepEqual(JSON.parse(text), DECLARED);
      const lines = logs.records().filter((record) => record.requestId === requestId);
      assert.ok(lines.length > 0, 'the request is logged');
      assert.ok(
        lines.every((record) => Number(record.level) < 40),
        `no warning or error: ${JSON.stringify(lines)}`,
      );
    });
  }

  for (const kind of ['prototype-name', 'null-prototype'] as const) {
    test(`an undeclared field in a ${kind} object is dropped`, async () => {
      const res = await app.request(`/probe/odd/${kind}`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assertNoSecret(text);
      assert.deepEqual(JSON.parse(text), DECLARED);
    });
  }

  test('a list: every element filtered, at every depth', async () => {
    const res = await app.request('/probe/accounts');
    assert.equal(res.status, 200);
    const text = await res.text();
    assertNoSecret(text);
    assert.deepEqual(JSON.parse(text), { data: [DECLARED, DECLARED], total: 2 });
  });
});
