import { Hono } from 'hono';
import { createApp } from './app.ts';
import { listen } from './core/http-server.ts';
import type { JobDefinition } from './core/jobs/define-job.ts';
import { metricsEndpoint } from './core/metrics-endpoint.ts';
import type { Deps } from './deps.ts';
import { JOBS } from './jobs.ts';
import { checkReadiness } from './modules/health/health.service.ts';

export interface Running {
  stop(): Promise<void>;
}

/**
 * The HTTP API on `HOST:PORT`. `stop` stops accepting, lets requests in flight finish
 * (up to `SHUTDOWN_TIMEOUT_MS`), then waits for their background tasks.
 */
export async function serveApi(deps: Deps): Promise<Running> {
  const { settings } = deps;
  const http = await listen({
    fetch: createApp(deps).fetch,
    host: settings.HOST,
    port: settings.PORT,
    keepAliveTimeoutMs: settings.KEEP_ALIVE_TIMEOUT_MS,
  });
  const url = `http://${settings.HOST}:${http.port}`;
  deps.logger.info({ url, docs: `${url}/docs` }, 'API listening');
  return {
    async stop() {
      await http.drain(settings.SHUTDOWN_TIMEOUT_MS);
      await deps.background.drain(settings.SHUTDOWN_TIMEOUT_MS);
    },
  };
}

/** The jobs named (all of them when none are), each with its concurrency scaled. */
export function selectJobs(names: readonly string[], scale: number): JobDefinition[] {
  const unknown = names.filter((name) => !JOBS.some((job) => job.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown jobs: ${unknown.join(', ')}. Known: ${JOBS.map((job) => job.name).join(', ')}`,
    );
  }
  return JOBS.filter((job) => names.length === 0 || names.includes(job.name)).map((job) => ({
    ...job,
    concurrency: Math.max(1, Math.round(job.concurrency * scale)),
  }));
}

/**
 * Workers for the selected jobs, and the worker's own probes on `WORKER_HEALTH_PORT`:
 * `/livez`, and `/readyz` (503 once stopping, or when a dependency fails).
 */
export async function runWorkers(deps: Deps, names: readonly string[]): Promise<Running> {
  const { settings } = deps;
  const jobs = selectJobs(names, settings.WORKER_CONCURRENCY_SCALE);
  const worker = await deps.jobs.startWorker(jobs, deps);
  const probes = new Hono()
    .get('/livez', (c) => c.json({ status: 'ok' }))
    .get('/metrics', metricsEndpoint(deps.metrics, settings.METRICS_TOKEN))
    .get('/readyz', async (c) => {
      const checks = await checkReadiness(deps);
      const ready =
        !deps.shutdown.aborted && Object.values(checks).every((check) => check.status === 'ok');
      return c.json({ status: ready ? 'ok' : 'failed', checks }, ready ? 200 : 503);
    });
  const health = await listen({
    fetch: probes.fetch,
    host: settings.HOST,
    port: settings.WORKER_HEALTH_PORT,
  });
  deps.logger.info(
    {
      jobs: jobs.map((job) => job.name),
      durable: deps.jobs.durable,
      health: `http://${settings.HOST}:${health.port}/readyz`,
    },
    'worker running',
  );
  return {
    async stop() {
      await worker.close(settings.WORKER_SHUTDOWN_TIMEOUT_MS);
      await health.drain(1_000);
    },
  };
}
