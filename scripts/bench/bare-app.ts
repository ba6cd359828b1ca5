/**
 * The baseline of `npm run bench`: plain Hono on @hono/node-server, one route, no middleware,
 * no logging. What the template costs is measured against it.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/livez', (c) => c.json({ status: 'ok' }));

const server = serve({
  fetch: app.fetch,
  hostname: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 3001),
}) as Server;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
