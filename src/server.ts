import { onShutdownSignal, runMain } from './core/main.ts';
import { createDeps } from './deps.ts';
import { serveApi } from './processes.ts';
import { loadSettings } from './settings.ts';

runMain(async () => {
  const deps = await createDeps(loadSettings());
  const api = await serveApi(deps);
  onShutdownSignal(async (signal) => {
    deps.logger.info({ signal }, 'shutting down: draining requests in flight');
    deps.beginShutdown();
    await api.stop();
    await deps.close();
  });
});
