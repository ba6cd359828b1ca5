/**
 * Outages under load. PostgreSQL and Redis are reached through TCP proxies inside this test,
 * which can cut every connection and refuse new ones, then let traffic through again: the
 * machine's own services are never touched. While steady traffic runs, each dependency is
 * cut, then restored. Requests that need it must answer a prompt 503 problem document (not
 * 500, not a hang), `/readyz` must name it, requests that do not need it must keep working,
 * and everything must recover by itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from '@hono/zod-openapi';
import { createApp } from '../src/app.ts';
import { defineRoute, jsonResponse } from '../src/core/route.ts';
import { createRouter } from '../src/core/router.ts';
import { purgeExpired } from '../src/modules/maintenance/maintenance.jobs.ts';
import { createTestUser, type TestUser } from './support/auth.ts';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/database.ts';
import { captureLogs, createTestDeps, TEST_REDIS_URL, type TestDeps } from './support/deps.ts';

const REQUEST_TIMEOUT_MS = 3_000;
/** How far past REQUEST_TIMEOUT_MS an answer may come before it counts as a hang. */
const HANG_MARGIN_MS = 5_000;
/** A bound on each wait for the service to notice an outage or a recovery. */
const NOTICE_TIMEOUT_MS = 60_000;

/**
 * A TCP proxy to `target`. `cut()` destroys every open connection and resets new ones, as a
 * dead server or a network partition would; `restore()` lets connections through again.
 */
async function tcpProxy(target: { host: string; port: number }) {
  let refusing = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(target.port, target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    get connections() {
      return open.size / 2;
    },
    cut() {
      refusing = true;
      for (const socket of open) socket.resetAndDestroy();
    },
    restore() {
      refusing = false;
    },
    async close() {
      refusing = true;
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

type Proxy = Awaited<ReturnType<typeof tcpProxy>>;

const probe = defineRoute({
  method: 'get',
  path: '/probe/limited',
  operationId: 'probeFaultLimited',
  summary: 'Needs Redis only: a rate-limited no-op',
  tags: ['probe'],
  rateLimit: { name: 'fault-probe', limit: 1_000_000, windowSeconds: 60 },
  responses: { 200: jsonResponse(z.object({ ok: z.boolean() }), 'Counted') },
});

/** Each kind of steady traffic, and which dependencies it needs. */
type RouteName = 'users/me' | 'jobs/:id' | 'rate-limited' | 'livez';
const NEEDS: Record<RouteName, { postgres: boolean; redis: boolean }> = {
  // Authentication is cached (API_KEY_CACHE_TTL_MS is long here); the handler reads the user.
  // Every operation is rate limited, and RATE_LIMIT_ON_REDIS_ERROR=deny: Redis too.
  'users/me': { postgres: true, redis: true },
  // BullMQ, on Redis; authentication from the cache.
  'jobs/:id': { postgres: false, redis: true },
  // RATE_LIMIT_ON_REDIS_ERROR=deny: the limiter's Redis, nothing else.
  'rate-limited': { postgres: false, redis: true },
  livez: { postgres: false, redis: false },
};
const WORKERS: Record<RouteName, number> = {
  'users/me': 3,
  'jobs/:id': 2,
  'rate-limited': 2,
  livez: 1,
};

type Phase =
  | 'baseline'
  | 'postgres cut'
  | 'postgres down'
  | 'postgres restored'
  | 'postgres recovered'
  | 'redis cut'
  | 'redis down'
  | 'redis restored'
  | 'redis recovered';

interface Answer {
  route: RouteName;
  /** The phase the request started in. */
  phase: Phase;
  /** The phase it was answered in. */
  endPhase: Phase;
  requestId: string;
  status: number;
  ms: number;
  contentType: string | null;
  detail: string;
  hung: boolean;
}

describe('outages under load', () => {
  let database: TestDatabase;
  let postgresProxy: Proxy;
  let redisProxy: Proxy;
  let deps: TestDeps;
  let app: ReturnType<typeof createApp>;
  let user: TestUser;
  let jobId: string;
  let logs: Awaited<ReturnType<typeof captureLogs>>;

  before(async () => {
    logs = await captureLogs();
    database = await createTestDatabase();
    const pg = new URL(TEST_DATABASE_URL);
    const redis = new URL(TEST_REDIS_URL);
    postgresProxy = await tcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    redisProxy = await tcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const proxiedPg = new URL(database.url);
    proxiedPg.host = `127.0.0.1:${postgresProxy.port}`;
    const proxiedRedis = new URL(TEST_REDIS_URL);
    proxiedRedis.host = `127.0.0.1:${redisProxy.port}`;
    deps = await createTestDeps({
      logger: logs.logger,
      env: {
        DATABASE_URL: proxiedPg.toString(),
        REDIS_URL: proxiedRedis.toString(),
        REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        READINESS_TIMEOUT_MS: '1000',
        RATE_LIMIT_ON_REDIS_ERROR: 'deny',
        API_KEY_CACHE_TTL_MS: '600000',
      },
    });
    app = createApp(deps);
    app.route(
      '/',
      createRouter().openapi(probe, (c) => c.json({ ok: true }, 200)),
    );
    user = await createTestUser(deps);
    ({ id: jobId } = await deps.jobs.enqueue(purgeExpired, {}, { ownerId: user.user.id }));
  });

  after(async () => {
    postgresProxy?.restore();
    redisProxy?.restore();
    await deps?.close();
    await Promise.all([postgresProxy?.close(), redisProxy?.close()]);
    await database?.drop();
  });

  function pathOf(route: RouteName): string {
    if (route === 'users/me') return '/v1/users/me';
    if (route === 'jobs/:id') return `/v1/jobs/${jobId}`;
    if (route === 'rate-limited') return '/probe/limited';
    return '/livez';
  }

  /** One request; a hang past the bound is an answer too (status 0). */
  async function send(route: RouteName, phase: Phase, now: () => Phase): Promise<Answer> {
    const requestId = `fault-${randomBytes(6).toString('hex')}`;
    const started = performance.now();
    const bound = REQUEST_TIMEOUT_MS + HANG_MARGIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), bound);
    });
    const answered = (async () => {
      const res = await app.request(
        pathOf(route),
        { headers: { ...user.headers, 'x-request-id': requestId } },
        { incoming: { socket: { remoteAddress: '10.66.0.1' } } },
      );
      const text = await res.text();
      let detail = '';
      try {
        detail = String((JSON.parse(text) as { detail?: unknown }).detail ?? '');
      } catch {
        detail = text.slice(0, 200);
      }
      return { res, detail };
    })();
    const outcome = await Promise.race([answered, hang]);
    clearTimeout(timer);
    const ms = Math.round(performance.now() - started);
    if (outcome === 'hang') {
      return {
        route,
        phase,
        endPhase: now(),
        requestId,
        status: 0,
        ms,
        contentType: null,
        detail: '',
        hung: true,
      };
    }
    return {
      route,
      phase,
      endPhase: now(),
      requestId,
      status: outcome.res.status,
      ms,
      contentType: outcome.res.headers.get('content-type'),
      detail: outcome.detail,
      hung: false,
    };
  }

  async function readiness() {
    const res = await app.request('/readyz');
    const body = (await res.json()) as {
      detail?: string;
      checks?: Record<string, { status: string; error?: string }>;
    };
    return { status: res.status, body };
  }

  test('PostgreSQL, then Redis, cut and restored under steady traffic', async (t) => {
    const answers: Answer[] = [];
    let phase: Phase = 'baseline';
    let running = true;
    const since = (from: number) => answers.slice(from);

    const load = Object.entries(WORKERS).flatMap(([route, workers]) =>
      Array.from({ length: workers }, async () => {
        while (running) {
          answers.push(await send(route as RouteName, phase, () => phase));
          await sleep(20);
        }
      }),
    );

    /** Waits (bounded) until every route has `count` answers after `from` matching `ok`. */
    async function until(what: string, check: () => boolean | Promise<boolean>) {
      const deadline = Date.now() + NOTICE_TIMEOUT_MS;
      while (!(await check())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await sleep(50);
      }
    }
    const everyRoute = (from: number, count: number, ok: (a: Answer) => boolean = () => true) =>
      (Object.keys(NEEDS) as RouteName[]).every(
        (route) => since(from).filter((a) => a.route === route && ok(a)).length >= count,
      );

    /** Cuts `proxy` and checks the outage and the recovery, from `cut` to `recovered`. */
    async function outage(dependency: 'postgres' | 'redis', proxy: Proxy, readyName: string) {
      const other = dependency === 'postgres' ? 'redis' : 'database';
      phase = `${dependency} cut`;
      proxy.cut();
      await until(`/readyz to fail on ${readyName}`, async () => {
        const ready = await readiness();
        return ready.status === 503 && ready.body.checks?.[readyName]?.status === 'failed';
      });
      const ready = await readiness();
      assert.equal(ready.status, 503);
      assert.match(ready.body.detail ?? '', new RegExp(readyName));
      assert.equal(ready.body.checks?.[other]?.status, 'ok', `${other} is still fine`);
      t.diagnostic(`${dependency} down: /readyz says ${JSON.stringify(ready.body.checks)}`);

      phase = `${dependency} down`;
      const downFrom = answers.length;
      await until(`${dependency}-down traffic`, () => everyRoute(downFrom, 5));

      phase = `${dependency} restored`;
      proxy.restore();
      const restoredFrom = answers.length;
      await until(`/readyz to pass again after ${dependency} returns`, async () => {
        return (await readiness()).status === 200;
      });
      await until(`every route to answer 200 again after ${dependency} returns`, () =>
        everyRoute(restoredFrom, 1, (a) => a.status === 200),
      );
      phase = `${dependency} recovered`;
      const recoveredFrom = answers.length;
      await until(`${dependency}-recovered traffic`, () => everyRoute(recoveredFrom, 5));
    }

    try {
      await until('baseline traffic', () => everyRoute(0, 5));
      await outage('postgres', postgresProxy, 'database');
      await outage('redis', redisProxy, 'redis');
    } finally {
      running = false;
      await Promise.all(load);
    }

    // What happened, by phase and route.
    const phases = [...new Set(answers.map((a) => a.phase))];
    for (const p of phases) {
      const parts = (Object.keys(NEEDS) as RouteName[]).map((route) => {
        const list = answers.filter((a) => a.phase === p && a.route === route);
        const statuses = new Map<string, number>();
        for (const a of list) {
          const key = a.hung ? 'hang' : String(a.status);
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
        const max = Math.max(0, ...list.map((a) => a.ms));
        return `${route} ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')} (max ${max} ms)`;
      });
      t.diagnostic(`${p}: ${parts.join('; ')}`);
    }
    const timeouts = answers.filter((a) => a.detail.startsWith('No answer within'));
    t.diagnostic(`503s from the request timeout: ${timeouts.length}`);

    // Every 500 with what reached the error handler, from the log.
    const records = logs.records();
    const causes = new Map<string, number>();
    for (const a of answers.filter((answer) => answer.status === 500)) {
      const record = records.find(
        (r) => r.requestId === a.requestId && r.msg === 'unhandled error',
      );
      const err = (record?.err ?? {}) as Record<string, unknown>;
      // drizzle's message is the query, its parameters, then the driver's error.
      const message = String(err.message);
      const key = `${a.phase} ${a.route}: ${String(err.type)} code=${String(err.code)} "${message.length > 200 ? `${message.slice(0, 60)}…${message.slice(-120)}` : message}"`;
      causes.set(key, (causes.get(key) ?? 0) + 1);
    }
    for (const [cause, count] of causes) t.diagnostic(`500 ×${count}: ${cause}`);

    const problems: string[] = [];
    for (const a of answers) {
      const where = `${a.phase} ${a.route} ${a.requestId}`;
      if (a.hung) {
        problems.push(`${where}: no answer within ${REQUEST_TIMEOUT_MS + HANG_MARGIN_MS} ms`);
        continue;
      }
      if (a.status === 500) {
        problems.push(`${where}: 500`);
        continue;
      }
      if (a.status !== 200 && a.status !== 503) {
        problems.push(`${where}: unexpected ${a.status} ${a.detail}`);
        continue;
      }
      if (a.status === 503 && a.contentType !== 'application/problem+json') {
        problems.push(`${where}: 503 as ${a.contentType}`);
      }
      const needs = NEEDS[a.route];
      // Judged strictly only when it started and ended in the same state of the world; an
      // answer that spans a cut or a restore may be either a 200 or a 503.
      const healthy = (p: Phase) => p === 'baseline' || p.endsWith('recovered');
      const lost = (p: Phase) =>
        p.startsWith('postgres') && (p.endsWith('cut') || p.endsWith('down'))
          ? 'postgres'
          : p.startsWith('redis') && (p.endsWith('cut') || p.endsWith('down'))
            ? 'redis'
            : undefined;
      if (healthy(a.phase) && a.phase === a.endPhase && a.status !== 200) {
        problems.push(`${where}: ${a.status} while all is well`);
      }
      const downDependency =
        lost(a.phase) !== undefined && lost(a.phase) === lost(a.endPhase)
          ? lost(a.phase)
          : undefined;
      if (downDependency && needs[downDependency] && a.status !== 503) {
        problems.push(`${where}: ${a.status} while ${downDependency} is down (503 expected)`);
      }
      if (downDependency && !needs[downDependency] && a.status !== 200) {
        problems.push(`${where}: ${a.status} ${a.detail}; it does not need ${downDependency}`);
      }
    }
    // Prompt: a lost dependency is reported as such, not waited on until the request timeout
    // (a few may time out on a busy machine; most must not).
    for (const dependency of ['postgres', 'redis'] as const) {
      for (const route of (Object.keys(NEEDS) as RouteName[]).filter((r) => NEEDS[r][dependency])) {
        const down = answers.filter(
          (a) =>
            a.route === route &&
            a.phase === `${dependency} down` &&
            a.endPhase === a.phase &&
            !a.hung &&
            a.status !== 500,
        );
        const timedOut = down.filter((a) => a.detail.startsWith('No answer within'));
        if (down.length > 0 && timedOut.length * 2 > down.length) {
          problems.push(
            `${dependency} down ${route}: ${timedOut.length} of ${down.length} answers waited for the request timeout`,
          );
        }
      }
    }
    const summary = new Map<string, number>();
    for (const problem of problems) {
      const key = problem.replace(/ fault-[0-9a-f]+/, '');
      summary.set(key, (summary.get(key) ?? 0) + 1);
    }
    assert.deepEqual(
      [...summary].map(([problem, count]) => `${problem} (×${count})`),
      [],
      'every answer is a 200, or a prompt 503 problem document for what needs the lost dependency',
    );
  });
});
