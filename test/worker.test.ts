/**
 * Worker faults with real processes: a worker killed mid-job, a worker stopped with SIGTERM
 * while a job runs (finishing within its deadline, or not), and the real worker's probes.
 * The fault tests run `test/support/test-worker.ts`, a worker of test-only jobs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { JobQueue, JobStatus } from '../src/core/jobs/job-queue.ts';
import { JOBS } from '../src/modules.ts';
import { createTestDeps, TEST_REDIS_URL, type TestDeps } from './support/deps.ts';
import { eventsUntilFinal, waitFor } from './support/jobs.ts';
import {
  depsEnv,
  killAllServices,
  type ServiceProcess,
  spawnService,
  startApi,
} from './support/processes.ts';
import { slowCount, testJobQueue } from './support/test-jobs.ts';

const JOB_LOCK_MS = 2_000;
/** What a stopping worker may take beyond its shutdown deadline to close and exit. */
const EXIT_MARGIN_MS = 5_000;

let deps: TestDeps;
let queue: JobQueue;
let raw: Redis;

before(async () => {
  deps = await createTestDeps({ env: { JOB_LOCK_MS: String(JOB_LOCK_MS) } });
  queue = testJobQueue(deps);
  raw = new Redis(TEST_REDIS_URL);
});
after(async () => {
  await killAllServices();
  await queue.close();
  raw.disconnect();
  await deps.close();
});

function serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...depsEnv(deps), JOB_LOCK_MS: String(JOB_LOCK_MS), ...extra };
}

async function startTestWorker(shutdownTimeoutMs: number): Promise<ServiceProcess> {
  const worker = spawnService(
    'test/support/test-worker.ts',
    serviceEnv({ WORKER_SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) }),
  );
  await worker.waitForRecord(
    'the worker to start',
    (record) => record.msg === 'test worker running',
  );
  return worker;
}

/** The pids that started the job, in order. */
function runsOf(jobId: string): Promise<string[]> {
  return raw.lrange(`${deps.redisPrefix}runs:${jobId}`, 0, -1);
}

/** How many times the job ran to its end. */
async function completionsOf(jobId: string): Promise<number> {
  return Number((await raw.get(`${deps.redisPrefix}done:${jobId}`)) ?? 0);
}

async function startedOn(worker: ServiceProcess, jobId: string): Promise<void> {
  await waitFor(`job ${jobId} to start on worker ${worker.pid}`, async () =>
    (await runsOf(jobId)).includes(String(worker.pid)),
  );
}

/**
 * Starts a successor to `previous`, which left job `id` unfinished, and asserts the successor
 * completes it exactly once with no failure counted (`notAFailure` says why none should be).
 */
async function completedOnceBySuccessor(
  previous: ServiceProcess,
  id: string,
  notAFailure: string,
): Promise<{ successor: ServiceProcess; status: JobStatus | undefined }> {
  const successor = await startTestWorker(10_000);
  const events = await eventsUntilFinal(queue.events, id, 120_000);
  assert.equal(events.at(-1)?.type, 'completed', JSON.stringify(events));
  assert.ok(
    !events.some((event) => event.type === 'failed' || event.type === 'retrying'),
    notAFailure,
  );
  // Longer than a lock period: any duplicate run would have shown up by now.
  await sleep(2 * JOB_LOCK_MS);
  assert.equal(await completionsOf(id), 1, 'completed exactly once');
  assert.deepEqual(await runsOf(id), [String(previous.pid), String(successor.pid)]);
  const status = await queue.get(id);
  assert.equal(status?.state, 'completed');
  return { successor, status };
}

describe('worker faults', () => {
  test('kill -9 mid-job: another worker recovers the job and it completes exactly once', async (t) => {
    const first = await startTestWorker(10_000);
    const { id } = await queue.enqueue(slowCount, { steps: 30 });
    await startedOn(first, id);
    // Well into the job: it has reported progress.
    await waitFor('progress', async () => ((await queue.get(id))?.progress ?? 0) >= 30);
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(await completionsOf(id), 0, 'the killed worker did not finish the job');
    assert.equal((await queue.get(id))?.state, 'active', 'the job is left active, its lock held');

    const { successor: second, status } = await completedOnceBySuccessor(
      first,
      id,
      'the crash does not count as a failure',
    );
    assert.deepEqual(status?.result, { count: 1, pid: second.pid });
    t.diagnostic(`recovered by ${second.pid} after ${first.pid} was killed`);

    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0, second.stderr());
  });

  test('SIGTERM while a job runs: the job finishes within the deadline, then the worker exits 0', async () => {
    const worker = await startTestWorker(30_000);
    const { id } = await queue.enqueue(slowCount, { steps: 30 });
    await startedOn(worker, id);
    worker.child.kill('SIGTERM');
    await worker.waitForRecord('the shutdown to begin', (record) =>
      String(record.msg).startsWith('shutting down'),
    );
    // Enqueued once the worker is stopping: it must not take this one.
    const { id: late } = await queue.enqueue(slowCount, { steps: 1 });
    const exit = await worker.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null], worker.stderr());

    const status = await queue.get(id);
    assert.equal(status?.state, 'completed');
    assert.equal(await completionsOf(id), 1);
    assert.ok(status?.finishedAt, 'finished');
    assert.ok(status.finishedAt.getTime() <= exit.at, 'the job finished before the worker exited');
    const events = await queue.events.after(id, undefined);
    assert.equal(events.at(-1)?.type, 'completed');

    assert.deepEqual(await runsOf(late), [], 'a stopping worker takes no new job');
    assert.equal((await queue.get(late))?.state, 'queued');
    assert.equal(await queue.cancel(late), 'cancelled');
  });

  test('SIGTERM with a job longer than the deadline: the worker exits in time, another completes the job once', async (t) => {
    const DEADLINE_MS = 1_000;
    const worker = await startTestWorker(DEADLINE_MS);
    const { id } = await queue.enqueue(slowCount, { steps: 80 });
    await startedOn(worker, id);
    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await Promise.race([
      worker.exited,
      sleep(DEADLINE_MS + 30_000).then(() => undefined),
    ]);
    assert.ok(exit, `the worker did not exit after SIGTERM:\n${worker.stderr()}`);
    const tookMs = exit.at - signalled;
    t.diagnostic(`exited ${tookMs} ms after SIGTERM (deadline ${DEADLINE_MS} ms)`);
    assert.deepEqual([exit.code, exit.signal], [0, null], worker.stderr());
    assert.ok(
      tookMs < DEADLINE_MS + EXIT_MARGIN_MS,
      `exited ${tookMs} ms after SIGTERM, beyond ${DEADLINE_MS} + ${EXIT_MARGIN_MS} ms`,
    );
    assert.equal(await completionsOf(id), 0, 'the job was cut off');
    assert.notEqual((await queue.get(id))?.state, 'failed');

    const { successor, status } = await completedOnceBySuccessor(
      worker,
      id,
      'the cut-off try is not a failure',
    );
    assert.equal(status?.attempts, 1, 'the cut-off try used up no attempt');

    successor.child.kill('SIGTERM');
    assert.equal((await successor.exited).code, 0, successor.stderr());
  });
});

describe('the real worker and server processes', () => {
  test('the worker’s health port answers /livez and /readyz; the API’s too', async () => {
    const worker = spawnService('src/worker.ts', serviceEnv());
    const api = await startApi(serviceEnv());
    const running = await worker.waitForRecord(
      'the worker to run',
      (record) => record.msg === 'worker running',
    );
    assert.equal(running.durable, true);
    assert.deepEqual(
      running.jobs,
      JOBS.map((job) => job.name),
    );
    const readyz = new URL(String(running.health));
    assert.equal(readyz.pathname, '/readyz');
    assert.notEqual(readyz.port, '0', 'WORKER_HEALTH_PORT=0 binds some free port');

    const livez = await fetch(new URL('/livez', readyz));
    assert.equal(livez.status, 200);
    assert.deepEqual(await livez.json(), { status: 'ok' });
    const ready = await fetch(readyz);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as {
      status: string;
      checks: Record<string, { status: string }>;
    };
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.database?.status, 'ok');
    assert.equal(body.checks.redis?.status, 'ok');

    for (const path of ['/livez', '/readyz']) {
      const res = await fetch(`${api.base}${path}`);
      assert.equal(res.status, 200, `API ${path}`);
    }

    worker.child.kill('SIGTERM');
    api.child.kill('SIGTERM');
    const [workerExit, apiExit] = await Promise.all([worker.exited, api.exited]);
    assert.deepEqual([workerExit.code, workerExit.signal], [0, null], worker.stderr());
    assert.deepEqual([apiExit.code, apiExit.signal], [0, null], api.stderr());
    assert.equal(worker.stderr(), '');
  });
});

describe('the worker on a WORKER_HEALTH_PORT in use', () => {
  test('exits 1 with one line naming WORKER_HEALTH_PORT, before opening anything', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    assert.ok(address && typeof address === 'object');
    try {
      const worker = spawnService('src/worker.ts', {
        ...serviceEnv(),
        DATABASE_URL: 'postgres://127.0.0.1:1/none',
        WORKER_HEALTH_PORT: String(address.port),
      });
      const exit = await worker.exited;
      assert.deepEqual([exit.code, exit.signal], [1, null]);
      assert.equal(
        worker.stderr(),
        `WORKER_HEALTH_PORT: 127.0.0.1:${address.port} is already in use; set WORKER_HEALTH_PORT to a free port\n`,
      );
    } finally {
      taken.close();
    }
  });
});

describe('a worker with nothing durable to consume', () => {
  test('without REDIS_URL it refuses to start: one line naming REDIS_URL, exit 1', async () => {
    const worker = spawnService('src/worker.ts', {
      ...serviceEnv(),
      REDIS_URL: undefined,
      // Not opened: the worker stops before it opens anything.
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
    });
    const exit = await Promise.race([worker.exited, sleep(20_000, undefined, { ref: false })]);
    if (!exit) worker.child.kill('SIGKILL');
    assert.ok(exit, `the worker started:\n${worker.stderr()}\n${worker.stdout()}`);
    assert.deepEqual([exit.code, exit.signal], [1, null]);
    const lines = worker.stderr().split('\n').filter(Boolean);
    assert.equal(lines.length, 1, worker.stderr());
    assert.match(lines[0] ?? '', /^REDIS_URL: /);
  });

  test('npm run worker runs in production mode: with no services configured, it lists what is missing', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'worker-test-'));
    try {
      const npm = spawn('npm', ['run', 'worker'], {
        cwd: new URL('..', import.meta.url).pathname,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          // Only so that a worker that does start stays out of the way.
          DATA_DIR: dataDir,
          WORKER_HEALTH_PORT: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a worker that does start can be ended with npm.
        detached: true,
      });
      let stderr = '';
      npm.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      npm.stdout?.resume();
      const exit = await Promise.race([
        new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code))),
        sleep(20_000, 'running', { ref: false }),
      ]);
      if (exit === 'running' && npm.pid) process.kill(-npm.pid, 'SIGKILL');
      assert.notEqual(exit, 'running', `the worker started:\n${stderr}`);
      assert.equal(exit, 1);
      assert.match(stderr, /^Invalid environment:/m);
      assert.match(stderr, /REDIS_URL: is required in production/);
      assert.match(stderr, /DATABASE_URL: is required in production/);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

test('a job name no job has stops the worker with one line naming WORKER_JOBS, exit 1', async () => {
  const worker = spawnService('src/worker.ts', {
    ...serviceEnv(),
    DATABASE_URL: 'postgres://127.0.0.1:1/none',
    WORKER_JOBS: 'exports.generate,nope',
  });
  const exit = await worker.exited;
  assert.deepEqual([exit.code, exit.signal], [1, null]);
  assert.equal(
    worker.stderr(),
    `WORKER_JOBS: no job is named nope; the jobs are ${JOBS.map((job) => job.name).join(', ')}\n`,
  );
});
