import { createApp } from './app.ts';
import { listen } from './core/http-server.ts';
import { onShutdownSignal, runMain } from './core/main.ts';
import { createDeps } from './deps.ts';
import { loadSettings } from './settings.ts';

runMain(async () => {
  const settings = loadSettings();
  const deps = await createDeps(settings);
  const app = createApp(deps);
  const http = await listen({ fetch: app.fetch, host: settings.HOST, port: settings.PORT });
  deps.logger.info(
    {
      url: `http://${settings.HOST}:${http.port}`,
      docs: `http://${settings.HOST}:${http.port}/docs`,
    },
    'API listening',
  );
  onShutdownSignal(async (signal) => {
    deps.logger.info({ signal }, 'shutting down: draining requests in flight');
    deps.beginShutdown();
    await http.drain(settings.SHUTDOWN_TIMEOUT_MS);
    await deps.close();
  });
});
