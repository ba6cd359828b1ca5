import { onShutdownSignal, runMain } from './core/main.ts';
import { createDeps } from './deps.ts';
import { runWorkers, serveApi } from './processes.ts';
import { loadSettings } from './settings.ts';

// `npm run dev`: the API and every worker in one process, for development.
runMain(async () => {
  const settings = loadSettings();
  const deps = await createDeps(settings);
  const workers = await runWorkers(deps, settings.WORKER_JOBS);
  const api = await serveApi(deps);
  onShutdownSignal(async () => {
    deps.beginShutdown();
    await api.stop();
    await workers.stop();
    await deps.close();
  });
});
