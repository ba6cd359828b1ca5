/**
 * The service on several machines' worth of processes: three API replicas bound to
 * 127.0.0.2, .3 and .4, two workers, HAProxy (Debian's) in front with health checks on
 * /readyz, one PostgreSQL and one Redis. Under constant mixed load through HAProxy:
 * - a rolling restart of every replica (SIGTERM, then a new process) fails no request;
 * - a replica killed with SIGKILL is taken out within HAProxy's check interval, gets nothing
 *   after that, and fails at most the requests in flight at that moment;
 * - rate limits, key revocation, idempotent replays and job event streams are the same
 *   whichever replica answers (a stream resumed on another replica with Last-Event-ID);
 * - throughput through one replica and through three is printed (not asserted: on two cores
 *   the cores bound it, not the design).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { deleteRedisKeys } from './support/deps.ts';
import { authFlow, type Call, exportJobFlow, type SignedIn } from './support/flows.ts';
import { startHaproxy, type TestHaproxy } from './support/haproxy.ts';
import {
  freePort,
  killAllServices,
  type ServiceProcess,
  spawnService,
  stopService,
} from './support/processes.ts';
import { findTool, missingToolReason } from './support/system-tools.ts';

const REPLICAS = [
  { name: 'a', address: '127.0.0.2' },
  { name: 'b', address: '127.0.0.3' },
  { name: 'c', address: '127.0.0.4' },
] as const;
type ReplicaName = (typeof REPLICAS)[number]['name'];

/** Virtual users of the constant load, each sending one request after another. */
const LOAD_USERS = 8;

let database: TestDatabase | undefined;
let proxy: TestHaproxy | undefined;
let port = 0;
const prefix = `test:replicas:${randomBytes(6).toString('hex')}:`;
const replicas = new Map<ReplicaName, ServiceProcess>();
let env: Record<string, string> = {};

function baseOf(name: ReplicaName): string {
  const replica = REPLICAS.find((entry) => entry.name === name);
  assert.ok(replica);
  return `http://${replica.address}:${port}`;
}

/** Sends requests straight to one replica, bypassing HAProxy. */
const direct =
  (name: ReplicaName): Call =>
  (path, init) =>
    fetch(`${baseOf(name)}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });

const viaProxy: Call = (path, init) => {
  assert.ok(proxy);
  return fetch(`${proxy.base}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
};

async function startReplica(name: ReplicaName): Promise<ServiceProcess> {
  const replica = REPLICAS.find((entry) => entry.name === name);
  assert.ok(replica);
  const service = spawnService('src/server.ts', {
    ...env,
    HOST: replica.address,
    PORT: String(port),
  });
  replicas.set(name, service);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (service.exit()) {
      assert.fail(`replica ${name} exited: ${JSON.stringify(service.exit())}\n${service.stderr()}`);
    }
    const ready = await fetch(`${baseOf(name)}/readyz`, { signal: AbortSignal.timeout(2_000) })
      .then((res) => res.status === 200)
      .catch(() => false);
    if (ready) return service;
    if (Date.now() > deadline) assert.fail(`replica ${name} never became ready`);
    await sleep(50);
  }
}

interface PhaseCount {
  sent: number;
  failed: number;
  /** The first few failures, for the message. */
  failures: string[];
}

/** Constant mixed load through HAProxy: reads, lists and idempotent creations. */
function startLoad(who: SignedIn, itemId: string, users = LOAD_USERS) {
  const phases = new Map<string, PhaseCount>();
  let phase = 'warm-up';
  let running = true;
  let inFlight = 0;
  let sequence = 0;
  const countOf = (name: string) => {
    let count = phases.get(name);
    if (!count) {
      count = { sent: 0, failed: 0, failures: [] };
      phases.set(name, count);
    }
    return count;
  };
  const once = async () => {
    const kind = sequence++ % 5;
    const count = countOf(phase);
    count.sent += 1;
    inFlight += 1;
    try {
      const res =
        kind <= 2
          ? await viaProxy(`/v1/items/${itemId}`, { headers: who.headers })
          : kind === 3
            ? await viaProxy('/v1/items?limit=10', { headers: who.headers })
            : await viaProxy('/v1/items', {
                method: 'POST',
                headers: {
                  ...who.headers,
                  'content-type': 'application/json',
                  'idempotency-key': randomUUID(),
                },
                // Names are unique per owner.
                body: JSON.stringify({ name: `Load ${randomUUID()}`, price: '2.00' }),
              });
      await res.arrayBuffer();
      if (res.status !== (kind === 4 ? 201 : 200)) {
        count.failed += 1;
        if (count.failures.length < 5) count.failures.push(`status ${res.status}`);
      }
    } catch (error) {
      count.failed += 1;
      // fetch says only "fetch failed"; what failed (a reset, a closed socket) is its cause.
      const cause = error instanceof Error && error.cause ? ` (${String(error.cause)})` : '';
      if (count.failures.length < 5) count.failures.push(`${String(error)}${cause}`);
    } finally {
      inFlight -= 1;
    }
  };
  const loops = Array.from({ length: users }, async () => {
    while (running) await once();
  });
  return {
    phases,
    setPhase(name: string) {
      phase = name;
      countOf(name);
    },
    inFlight: () => inFlight,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

before(async () => {
  if (!findTool('haproxy')) return;
  database = await createTestDatabase();
  port = await freePort();
  env = {
    DATABASE_URL: database.url,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    DATABASE_POOL_MAX: '5',
    // HAProxy is the one proxy in front, and says who the client is in X-Forwarded-For.
    TRUST_PROXY_HOPS: '1',
    RATE_LIMIT_DEFAULT_REQUESTS: '1000000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
    SHUTDOWN_TIMEOUT_MS: '5000',
  };
  await Promise.all(REPLICAS.map((replica) => startReplica(replica.name)));
  for (let index = 0; index < 2; index++) spawnService('src/worker.ts', env);
  proxy = await startHaproxy({
    servers: REPLICAS.map((replica) => ({
      name: replica.name,
      address: `${replica.address}:${port}`,
    })),
  });
  assert.ok(proxy);
  for (const replica of REPLICAS) await proxy.waitFor(replica.name, 'UP');
});

after(async () => {
  await proxy?.close();
  await killAllServices();
  await Promise.all([database?.drop(), deleteRedisKeys(prefix)]);
});

describe('three API replicas and two workers behind HAProxy', () => {
  test('restarts, a kill, shared state and throughput, under constant load', async (t) => {
    if (!proxy) return t.skip(missingToolReason('haproxy'));
    const balancer = proxy;
    const who = await authFlow(viaProxy);
    const created = await viaProxy('/v1/items', {
      method: 'POST',
      headers: { ...who.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Read under load', price: '3.00' }),
    });
    assert.equal(created.status, 201);
    const { id: itemId } = (await created.json()) as { id: string };

    const load = startLoad(who, itemId);
    try {
      load.setPhase('steady');
      await sleep(1_000);

      // Rolling restart: SIGTERM one replica, start its successor, wait until HAProxy sends
      // to it again, then the next.
      load.setPhase('rolling restart');
      for (const replica of REPLICAS) {
        const old = replicas.get(replica.name);
        assert.ok(old);
        const exit = await stopService(old, 15_000);
        assert.equal(exit.code, 0, `replica ${replica.name} drained and exited cleanly`);
        await startReplica(replica.name);
        await balancer.waitFor(replica.name, 'UP');
      }

      // The same answers whichever replica is asked.
      load.setPhase('shared state');
      await rateLimitAcrossReplicas();
      await revocationAcrossReplicas(who);
      await idempotentReplayAcrossReplicas(who);
      const events = await exportJobFlow(direct('a'), who, direct('c'));
      assert.ok(events.includes('queued') && events.includes('completed'), events.join(','));

      // SIGKILL: the requests on it at that moment may fail; HAProxy takes it out within its
      // checks and sends it nothing more.
      load.setPhase('kill');
      const victim = replicas.get('b');
      assert.ok(victim);
      const inFlightAtKill = load.inFlight();
      const killedAt = performance.now();
      victim.child.kill('SIGKILL');
      await balancer.waitFor('b', 'DOWN', 10_000);
      const detectedMs = performance.now() - killedAt;
      const sessionsAtDown = (await balancer.servers()).get('b')?.sessions;
      await sleep(1_000);
      const sessionsLater = (await balancer.servers()).get('b')?.sessions;
      assert.equal(sessionsLater, sessionsAtDown, 'nothing sent to the dead replica once down');
      const checkWindowMs = balancer.checkIntervalMs * (balancer.fall + 1);
      assert.ok(
        detectedMs <= checkWindowMs + 1_000,
        `taken out in ${Math.round(detectedMs)} ms (checks: ${checkWindowMs} ms)`,
      );
      load.setPhase('after kill');
      await startReplica('b');
      await balancer.waitFor('b', 'UP');
      load.setPhase('recovered');
      await sleep(500);
      await load.stop();

      const rolling = load.phases.get('rolling restart');
      const kill = load.phases.get('kill');
      assert.ok(rolling && kill);
      const sent = [...load.phases.values()].reduce((sum, count) => sum + count.sent, 0);
      const failedElsewhere = [...load.phases]
        .filter(([name]) => name !== 'kill')
        .reduce((sum, [, count]) => sum + count.failed, 0);

      // Throughput with one replica in HAProxy, then three.
      const throughput = async (enabled: readonly ReplicaName[]) => {
        for (const replica of REPLICAS) {
          await balancer.command(
            `${enabled.includes(replica.name) ? 'enable' : 'disable'} server replicas/${replica.name}`,
          );
        }
        const measured = startLoad(who, itemId, 16);
        measured.setPhase('measure');
        await sleep(500);
        measured.setPhase('measured');
        const started = performance.now();
        await sleep(3_000);
        const count = measured.phases.get('measured');
        const seconds = (performance.now() - started) / 1000;
        await measured.stop();
        assert.equal(count?.failed, 0, JSON.stringify(count));
        return Math.round((count?.sent ?? 0) / seconds);
      };
      const one = await throughput(['a']);
      const three = await throughput(['a', 'b', 'c']);

      const figures = {
        requestsSent: sent,
        failedDuringRollingRestart: rolling.failed,
        requestsDuringRollingRestart: rolling.sent,
        failedAtKill: kill.failed,
        inFlightAtKill,
        killDetectedMs: Math.round(detectedMs),
        failedOtherwise: failedElsewhere,
        throughputOneReplica: one,
        throughputThreeReplicas: three,
      };
      t.diagnostic(JSON.stringify(figures));
      process.stdout.write(
        `multi-replica figures: ${sent} requests sent; ${rolling.failed} failed of ${rolling.sent} during the rolling restart; ${kill.failed} failed at the kill (${inFlightAtKill} in flight, taken out in ${figures.killDetectedMs} ms); throughput ${one} req/s through 1 replica, ${three} req/s through 3\n`,
      );
      assert.equal(rolling.failed, 0, `rolling restart: ${rolling.failures.join('; ')}`);
      assert.ok(
        kill.failed <= Math.max(inFlightAtKill, LOAD_USERS),
        `at the kill only requests in flight fail: ${kill.failures.join('; ')}`,
      );
      assert.equal(failedElsewhere, 0, JSON.stringify([...load.phases]));
    } finally {
      await load.stop();
    }
  });
});

/** 75 logins from one client address spread over the replicas: 60 pass the limiter. */
async function rateLimitAcrossReplicas() {
  const statuses: number[] = [];
  for (let index = 0; index < 75; index++) {
    const name = REPLICAS[index % REPLICAS.length]?.name ?? 'a';
    const res = await direct(name)('/v1/auth/token', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-for': '192.0.2.77',
      },
      body: 'grant_type=password',
    });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  assert.equal(
    statuses.filter((status) => status !== 429).length,
    60,
    `the "token" limit, 60 a minute, holds across replicas: ${statuses.join(',')}`,
  );
}

/** A key made on one replica, used on the others, revoked on the first: refused everywhere. */
async function revocationAcrossReplicas(who: SignedIn) {
  const made = await direct('a')('/v1/api-keys', {
    method: 'POST',
    headers: { ...who.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'replicas', scopes: ['items:read'] }),
  });
  assert.equal(made.status, 201);
  const { id, key } = (await made.json()) as { id: string; key: string };
  for (const name of ['b', 'c'] as const) {
    assert.equal((await direct(name)('/v1/items', { headers: { 'x-api-key': key } })).status, 200);
  }
  const revoked = await direct('a')(`/v1/api-keys/${id}`, {
    method: 'DELETE',
    headers: who.headers,
  });
  assert.equal(revoked.status, 204);
  for (const name of ['b', 'c'] as const) {
    const started = performance.now();
    let status = 200;
    while (status === 200 && performance.now() - started < 1_000) {
      status = (await direct(name)('/v1/items', { headers: { 'x-api-key': key } })).status;
    }
    assert.equal(status, 401, `replica ${name} refuses the revoked key within a second`);
  }
}

/** One Idempotency-Key sent to each replica: one item, replayed by the other two. */
async function idempotentReplayAcrossReplicas(who: SignedIn) {
  const key = randomUUID();
  const answers = [];
  for (const replica of REPLICAS) {
    const res = await direct(replica.name)('/v1/items', {
      method: 'POST',
      headers: { ...who.headers, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ name: 'Once', price: '5.00' }),
    });
    assert.equal(res.status, 201);
    answers.push({
      id: ((await res.json()) as { id: string }).id,
      replayed: res.headers.get('idempotent-replayed'),
    });
  }
  assert.equal(new Set(answers.map((answer) => answer.id)).size, 1, 'one item');
  assert.deepEqual(
    answers.map((answer) => answer.replayed),
    [null, 'true', 'true'],
  );
}
