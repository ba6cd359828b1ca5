import { onShutdownSignal, runMain } from './core/main.ts';
import { createDeps } from './deps.ts';
import { runWorkers } from './processes.ts';
import { loadSettings } from './settings.ts';

// `npm run worker -- exports.generate` runs only the jobs named; by default, all of them.
runMain(async () => {
  const settings = loadSettings();
  const deps = await createDeps(settings);
  const argv = process.argv.slice(2);
  const workers = await runWorkers(deps, argv.length > 0 ? argv : settings.WORKER_JOBS);
  onShutdownSignal(async (signal) => {
    deps.logger.info({ signal }, 'shutting down: finishing active jobs');
    deps.beginShutdown();
    await workers.stop();
    await deps.close();
  });
});
