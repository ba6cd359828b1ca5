/**
 * The "unauthenticated" baseline of `npm run bench`: the full app, built and served exactly
 * as src/server.ts does, except that authentication is replaced by a fixed principal (the
 * seeded user, BENCH_USER_ID). What remains is everything but the cost of checking
 * credentials, so a route served here and on the full app shows what auth costs.
 */
import { createApp } from '../../src/app.ts';
import { listen } from '../../src/core/http-server.ts';
import { onShutdownSignal, runMain } from '../../src/core/main.ts';
import { actAs } from '../../src/core/security/principal.ts';
import { loadSettings } from '../../src/core/settings.ts';
import { createDeps } from '../../src/deps.ts';

runMain(async () => {
  const userId = process.env.BENCH_USER_ID;
  if (!userId) throw new Error('BENCH_USER_ID: the id of the user to act as is required');
  const settings = loadSettings();
  const deps = await createDeps(settings);
  const app = createApp({
    ...deps,
    auth: actAs({
      userId,
      role: 'user',
      scopes: new Set(['items:read', 'items:write']),
      via: 'token',
      credentialId: 'bench-open-app',
    }),
  });
  const http = await listen({ fetch: app.fetch, host: settings.HOST, port: settings.PORT });
  deps.logger.info(
    { url: `http://${settings.HOST}:${http.port}`, actingAs: userId },
    'API listening (bench: authentication replaced by a fixed principal)',
  );
  onShutdownSignal(async (signal) => {
    deps.logger.info({ signal }, 'shutting down: draining requests in flight');
    deps.beginShutdown();
    await http.drain(settings.SHUTDOWN_TIMEOUT_MS);
    await deps.close();
  });
});
