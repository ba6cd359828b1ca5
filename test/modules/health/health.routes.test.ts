import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { closedPort } from '../../support/processes.ts';

describe('probes', () => {
  let deps: TestDeps;
  before(async () => {
    deps = await createTestDeps();
  });
  after(() => deps.close());

  test('/livez answers 200', async () => {
    const res = await createApp(deps).request('/livez');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('/livez is answered in the turn it arrives, every duty done (decision 090)', () => {
    const answer = createApp(deps).fetch(new Request('http://localhost/livez'));
    // The request context, the route's timeout and the handler all finish at once, so the
    // app hands back a response rather than a promise of one.
    assert.ok(answer instanceof Response, 'a response, not a promise');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(answer.headers.get('x-content-type-options'), 'nosniff');
  });

  test('/readyz checks the database and Redis', async () => {
    const res = await createApp(deps).request('/readyz');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { checks: Record<string, { status: string }> };
    assert.deepEqual(Object.keys(body.checks).sort(), ['database', 'redis']);
    assert.equal(body.checks.database?.status, 'ok');
    assert.equal(body.checks.redis?.status, 'ok');
  });

  test('/readyz is 503 naming Redis when Redis is unreachable', async () => {
    const broken = await createTestDeps({
      env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, READINESS_TIMEOUT_MS: '300' },
    });
    try {
      const started = Date.now();
      const res = await createApp(broken).request('/readyz');
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const body = (await res.json()) as {
        detail: string;
        checks: Record<string, { status: string }>;
      };
      assert.match(body.detail, /redis/);
      assert.equal(body.checks.redis?.status, 'failed');
      assert.equal(body.checks.database?.status, 'ok');
      assert.ok(Date.now() - started < 2_000, 'answers within the readiness timeout');
    } finally {
      await broken.close();
    }
  });

  test('/readyz is 503 naming the database when PostgreSQL is unreachable', async () => {
    const broken = await createTestDeps({
      env: {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/none`,
        READINESS_TIMEOUT_MS: '300',
      },
    });
    try {
      const res = await createApp(broken).request('/readyz');
      assert.equal(res.status, 503);
      const body = (await res.json()) as {
        detail: string;
        checks: Record<string, { status: string }>;
      };
      assert.match(body.detail, /database/);
      assert.equal(body.checks.database?.status, 'failed');
    } finally {
      await broken.close();
    }
  });

  test('/readyz is 503 once shutdown has begun, while /livez still answers', async () => {
    const stopping = await createTestDeps();
    try {
      const app = createApp(stopping);
      stopping.beginShutdown();
      assert.equal((await app.request('/readyz')).status, 503);
      assert.equal((await app.request('/livez')).status, 200);
    } finally {
      await stopping.close();
    }
  });
});
