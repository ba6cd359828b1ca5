import { ExitError } from './core/exit-error.ts';
import { onShutdownSignal, runMain } from './core/main.ts';
import { loadSettings } from './core/settings.ts';
import { releaseStartUpMemory } from './core/start-up-memory.ts';
import { createDeps } from './deps.ts';
import { bindWorkerProbes, runWorkers, selectJobs } from './processes.ts';

// `npm run worker -- exports.generate` runs only the jobs named; by default, all of them.
// Run, not imported: the image's build imports the bundle to fill the compile cache (decision 056).
if (import.meta.main) {
  runMain(async () => {
    const settings = loadSettings();
    // Without Redis, jobs live in the memory of the process that enqueues them: a worker of
    // its own would consume nothing, or worse, run on a database no API shares.
    if (!settings.REDIS_URL) {
      throw new ExitError(
        'REDIS_URL: a worker consumes the job queue in Redis; set REDIS_URL (without Redis, npm run dev runs jobs in-process)',
      );
    }
    const argv = process.argv.slice(2);
    const jobs =
      argv.length > 0
        ? selectJobs(argv, settings.WORKER_CONCURRENCY_SCALE, 'npm run worker -- <job names>')
        : selectJobs(settings.WORKER_JOBS, settings.WORKER_CONCURRENCY_SCALE, 'WORKER_JOBS');
    // First, so a port in use stops the process at once, with one line naming the setting.
    const probes = await bindWorkerProbes(settings);
    const deps = await createDeps(settings);
    // Before the workers take their first job, which the collection's pause would delay.
    releaseStartUpMemory();
    const workers = await runWorkers(deps, jobs);
    const health = probes.serve(deps);
    deps.logger.info(
      { jobs: workers.jobs, durable: deps.jobs.durable, health: `${probes.url}/readyz` },
      'worker running',
    );
    onShutdownSignal(async (signal) => {
      deps.logger.info({ signal }, 'shutting down: finishing active jobs');
      deps.beginShutdown();
      await workers.stop();
      await health.stop();
      await deps.close();
    });
  });
}
