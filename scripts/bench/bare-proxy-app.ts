/**
 * The gateway baseline of `npm run bench`: plain Hono on @hono/node-server passing
 * POST /v1/chat/completions through to the upstream (BENCH_UPSTREAM_URL) with Node's
 * fetch, the body read as text and the answer's body streamed back as it comes. No
 * middleware, no authentication, no validation, no accounting: the least a proxy can do.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const upstream = process.env.BENCH_UPSTREAM_URL;
if (!upstream) throw new Error('BENCH_UPSTREAM_URL is required');
const authorization = `Bearer ${process.env.BENCH_UPSTREAM_API_KEY ?? 'sk-bench'}`;

const app = new Hono();
app.get('/livez', (c) => c.json({ status: 'ok' }));
app.post('/v1/chat/completions', async (c) => {
  const answer = await fetch(`${upstream}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: await c.req.text(),
    signal: c.req.raw.signal,
  });
  return new Response(answer.body, {
    status: answer.status,
    headers: { 'content-type': answer.headers.get('content-type') ?? 'application/json' },
  });
});

const server = serve({
  fetch: app.fetch,
  hostname: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 3003),
}) as Server;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
