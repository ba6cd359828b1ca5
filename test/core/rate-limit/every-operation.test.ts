/**
 * Every operation is rate limited or explicitly opted out, and says so: the document gives
 * each operation's policy (`x-rate-limit`) and its 429, and a real request to each carries
 * `RateLimit-Policy` and `RateLimit` for that policy, whatever its status. An operation
 * added without a word about limits gets the default.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { createTestUser } from '../../support/auth.ts';
import { createTestDeps } from '../../support/deps.ts';
import {
  documentedRequest,
  listOperations,
  type OpenApiDocument,
  type Operation,
  resolve,
} from '../../support/openapi.ts';

const DEFAULT = { name: 'default', limit: 40, windowSeconds: 30 };
/** Operations that may go unlimited: probes that load balancers call without end. */
const OPTED_OUT = new Set(['GET /livez', 'GET /readyz']);

const deps = await createTestDeps({
  env: {
    RATE_LIMIT_DEFAULT_REQUESTS: String(DEFAULT.limit),
    RATE_LIMIT_DEFAULT_WINDOW_SECONDS: String(DEFAULT.windowSeconds),
  },
});
after(() => deps.close());
const app = createApp(deps);
const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
const operations = listOperations(document);

interface Policy {
  name: string;
  limit: number;
  windowSeconds: number;
}

function documentedLimit(op: Operation): Policy | false | undefined {
  const value: unknown = Reflect.get(op.operation, 'x-rate-limit');
  if (value === false) return false;
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, limit, windowSeconds } = value as Record<string, unknown>;
  return typeof name === 'string' && typeof limit === 'number' && typeof windowSeconds === 'number'
    ? { name, limit, windowSeconds }
    : undefined;
}

/** The documented request, sent by a user of its own: its answer's status does not matter. */
async function callAs(op: Operation, headers: Record<string, string>): Promise<Response> {
  const { url, init } = documentedRequest(document, op, headers);
  return app.request(url, init);
}

describe('every operation is rate limited, or opted out', () => {
  for (const op of operations) {
    test(op.label, async () => {
      const policy = documentedLimit(op);
      assert.ok(policy !== undefined, `${op.label}: no x-rate-limit in the document`);
      const statuses = Object.keys(op.operation.responses ?? {});
      const caller = await createTestUser(deps, { role: 'admin' });
      const response = await callAs(op, caller.headers);
      await response.body?.cancel();
      if (policy === false) {
        assert.ok(OPTED_OUT.has(op.label), `${op.label} opts out of rate limits`);
        assert.ok(!statuses.includes('429'), `${op.label} documents a 429 it never sends`);
        assert.equal(response.headers.get('ratelimit-policy'), null);
        return;
      }
      assert.ok(statuses.includes('429'), `${op.label} does not document 429`);
      const documented = resolve(document, op.operation.responses?.['429'] ?? { $ref: '' });
      assert.ok('headers' in documented, `${op.label}: 429 documents no headers`);
      assert.equal(
        response.headers.get('ratelimit-policy'),
        `"${policy.name}";q=${policy.limit};w=${policy.windowSeconds}`,
        `${op.label} answered ${response.status}`,
      );
      assert.match(
        response.headers.get('ratelimit') ?? '',
        new RegExp(`^"${policy.name}";r=\\d+;t=\\d+$`),
      );
    });
  }

  test('operations that declare nothing get the default, from settings', () => {
    const withDefault = operations.filter((op) => {
      const policy = documentedLimit(op);
      return policy && policy.name === 'default';
    });
    assert.ok(withDefault.length > 10, withDefault.map((op) => op.label).join(', '));
    for (const op of withDefault) assert.deepEqual(documentedLimit(op), DEFAULT);
  });
});

describe('the default limit', () => {
  test('stops one user past it across operations, with both headers on every answer', async () => {
    const caller = await createTestUser(deps);
    const statuses: number[] = [];
    for (let call = 0; call < DEFAULT.limit + 5; call++) {
      const path = call % 2 === 0 ? '/v1/users/me' : '/v1/items';
      const res = await app.request(path, { headers: caller.headers });
      statuses.push(res.status);
      assert.equal(res.headers.get('ratelimit-policy'), '"default";q=40;w=30');
      assert.match(res.headers.get('ratelimit') ?? '', /^"default";r=\d+;t=\d+$/);
      if (res.status === 429) {
        assert.ok(Number(res.headers.get('retry-after')) > 0);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
      }
      await res.body?.cancel();
    }
    assert.equal(statuses.filter((status) => status === 200).length, DEFAULT.limit);
    assert.equal(statuses.filter((status) => status === 429).length, 5);
    const other = await createTestUser(deps);
    assert.equal((await app.request('/v1/users/me', { headers: other.headers })).status, 200);
  });

  test('an error answer of a limited operation carries the headers too', async () => {
    const caller = await createTestUser(deps);
    const res = await app.request('/v1/items/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e', {
      headers: caller.headers,
    });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('ratelimit-policy'), '"default";q=40;w=30');
    assert.match(res.headers.get('ratelimit') ?? '', /^"default";r=\d+;t=\d+$/);
  });
});
