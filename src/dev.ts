import { onShutdownSignal, runMain } from './core/main.ts';
import { loadSettings } from './core/settings.ts';
import { createDeps } from './deps.ts';
import { bindApi, runWorkers, selectJobs } from './processes.ts';

// `npm run dev`: the API and every worker in one process, for development, under
// scripts/watch.ts. It needs one port, the API's: the API's /livez and /readyz answer for
// the whole process, so the worker's own probes are not started.
runMain(async () => {
  const settings = loadSettings();
  const jobs = selectJobs(settings.WORKER_JOBS, settings.WORKER_CONCURRENCY_SCALE, 'WORKER_JOBS');
  // First, so a port in use stops it before it opens a database another process is using.
  const port = await bindApi(settings);
  const deps = await createDeps(settings);
  const workers = await runWorkers(deps, jobs);
  deps.logger.info({ jobs: workers.jobs, durable: deps.jobs.durable }, 'workers running');
  const api = port.serve(deps);
  onShutdownSignal(async (signal) => {
    deps.logger.info({ signal }, 'shutting down');
    deps.beginShutdown();
    await api.stop();
    await workers.stop();
    await deps.close();
  });
  // The runner restarts on changes only once the process has started (decision 006), and
  // when the runner is gone, nothing would stop this process: it stops itself.
  process.send?.('ready');
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
});
