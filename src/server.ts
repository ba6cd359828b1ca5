import { isClusterPrimary, superviseWorkers } from './core/cluster.ts';
import { createLogger } from './core/logger.ts';
import { onShutdownSignal, runMain } from './core/main.ts';
import { loadSettings } from './core/settings.ts';
import { createDeps } from './deps.ts';
import { bindApi } from './processes.ts';

// Run, not imported: the image's build imports the bundle to fill the compile cache (decision 056).
if (import.meta.main) {
  runMain(async () => {
    const settings = loadSettings();
    if (settings.WEB_CONCURRENCY > 1 && isClusterPrimary()) {
      const logger = await createLogger({ level: settings.LOG_LEVEL, format: settings.LOG_FORMAT });
      superviseWorkers(settings.WEB_CONCURRENCY, settings.SHUTDOWN_TIMEOUT_MS, logger);
      return;
    }
    // First, so a port in use stops the process at once, with one line naming PORT.
    const port = await bindApi(settings);
    const deps = await createDeps(settings);
    const api = port.serve(deps);
    onShutdownSignal(async (signal) => {
      deps.logger.info({ signal }, 'shutting down: draining requests in flight');
      deps.beginShutdown();
      await api.stop();
      await deps.close();
    });
  });
}
