import { Hono } from 'hono';
import { createApp } from './app.ts';
import type { Deps } from './core/deps.ts';
import { ExitError } from './core/exit-error.ts';
import { listen } from './core/http-server.ts';
import { metricsEndpoint } from './core/metrics-endpoint.ts';
import { QUIET_RELEASE_MESSAGE, releaseMemoryWhenQuiet } from './core/quiet-memory-release.ts';
import type { Settings } from './core/settings.ts';
import { checkReadiness } from './modules/health/health.service.ts';
import { JOBS } from './modules.ts';

type Job = (typeof JOBS)[number];

/** A moment without requests after the API is ready: long enough for its readiness probes. */
const START_UP_QUIET_MS = 250;

export interface Running {
  stop(): Promise<void>;
}

/**
 * A port held before the process builds anything: a port in use stops it at once with one
 * line naming the setting, before it opens a database another process may be using.
 * Requests get 503 until `serve`.
 */
export interface BoundPort {
  /** `http://HOST:<bound port>` */
  url: string;
  serve(deps: Deps): Running;
}

/**
 * The HTTP API on `HOST:PORT`. `stop` stops accepting, lets requests in flight finish
 * (up to `SHUTDOWN_TIMEOUT_MS`), then waits for their background tasks.
 */
export async function bindApi(settings: Settings): Promise<BoundPort> {
  const http = await listen({
    host: settings.HOST,
    port: settings.PORT,
    settings: { host: 'HOST', port: 'PORT' },
    keepAliveTimeoutMs: settings.KEEP_ALIVE_TIMEOUT_MS,
  });
  const url = `http://${settings.HOST}:${http.port}`;
  return {
    url,
    serve(deps) {
      const app = createApp(deps);
      http.serve(app.fetch);
      // What starting left is collected once the API is ready and has had a quiet moment,
      // rather than before it serves (decision 070).
      const release = releaseMemoryWhenQuiet({
        quietMs: settings.QUIET_MEMORY_RELEASE_MS,
        startUpQuietMs: START_UP_QUIET_MS,
        requestsStarted: http.requestsStarted,
        released: (release) => deps.logger.info(release, QUIET_RELEASE_MESSAGE),
      });
      deps.logger.info({ url, docs: `${url}/docs` }, 'API listening');
      return {
        async stop() {
          release?.stop();
          await http.drain(settings.SHUTDOWN_TIMEOUT_MS);
          await deps.background.drain(settings.SHUTDOWN_TIMEOUT_MS);
        },
      };
    },
  };
}

/**
 * The jobs named (all of them when none are), each with its concurrency scaled. A name no
 * job has stops the process with one line naming where it came from (`from`).
 */
export function selectJobs(names: readonly string[], scale: number, from: string): Job[] {
  const unknown = names.filter((name) => !JOBS.some((job) => job.name === name));
  if (unknown.length > 0) {
    throw new ExitError(
      `${from}: no job is named ${unknown.join(', ')}; the jobs are ${JOBS.map((job) => job.name).join(', ')}`,
    );
  }
  return JOBS.filter((job) => names.length === 0 || names.includes(job.name)).map((job) => ({
    ...job,
    concurrency: Math.max(1, Math.round(job.concurrency * scale)),
  }));
}

export interface RunningWorkers extends Running {
  /** The names of the jobs they run. */
  jobs: string[];
}

/** Workers for `jobs` (from `selectJobs`). */
export async function runWorkers(deps: Deps, jobs: readonly Job[]): Promise<RunningWorkers> {
  const worker = await deps.jobs.startWorker(jobs, deps);
  return {
    jobs: jobs.map((job) => job.name),
    async stop() {
      await worker.close(deps.settings.WORKER_SHUTDOWN_TIMEOUT_MS);
    },
  };
}

/** The paths of the worker's probes, which the Kubernetes manifests probe. */
export const WORKER_PROBES = { live: '/livez', ready: '/readyz', metrics: '/metrics' } as const;

/**
 * The worker process's own probes on `HOST:WORKER_HEALTH_PORT`: `/livez`, `/metrics`, and
 * `/readyz` (503 once stopping, or when a dependency fails). The development process has
 * none: its API answers `/livez` and `/readyz` for the whole process.
 */
export async function bindWorkerProbes(settings: Settings): Promise<BoundPort> {
  const http = await listen({
    host: settings.HOST,
    port: settings.WORKER_HEALTH_PORT,
    settings: { host: 'HOST', port: 'WORKER_HEALTH_PORT' },
  });
  return {
    url: `http://${settings.HOST}:${http.port}`,
    serve(deps) {
      const probes = new Hono()
        .get(WORKER_PROBES.live, (c) => c.json({ status: 'ok' }))
        .get(WORKER_PROBES.metrics, metricsEndpoint(deps.metrics, settings.METRICS_TOKEN))
        .get(WORKER_PROBES.ready, async (c) => {
          const checks = await checkReadiness(deps);
          const ready =
            !deps.shutdown.aborted && Object.values(checks).every((check) => check.status === 'ok');
          return c.json({ status: ready ? 'ok' : 'failed', checks }, ready ? 200 : 503);
        });
      http.serve(probes.fetch);
      return { stop: () => http.drain(1_000) };
    },
  };
}
